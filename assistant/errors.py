"""The errors order-assistant reports to a user, each knowing its exit code.

    AssistantError                 base: a message for the user, never a traceback
    ├── InputError          (2)    bad order context: names the source, the field, the row
    ├── UsageError          (2)    flags that do not fit together
    ├── RulesetError        (2)    a ruleset file that does not load or validate
    │                              (carries every problem found, each with its file and key)
    ├── VtexConfigError     (2)    VTEX credentials or URL missing or malformed
    └── VtexApiError        (3)    a VTEX call failed, so the check that needed it could not run
        └── VtexPermissionError    401/403: names the License Manager resource the key needs

The CLI maps these to exit codes in one place; the core never prints.
"""

from __future__ import annotations

from typing import NamedTuple

EXIT_OK = 0
EXIT_ACTION_NEEDED = 1
EXIT_USAGE = 2
EXIT_UNDECIDED = 3
EXIT_INPUT_NEEDED = 4
EXIT_INTERRUPTED = 130


class AssistantError(Exception):
    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(AssistantError):
    """An order context that cannot be used, located as precisely as we can."""

    def __init__(
        self, source: str, problem: str, field: str | None = None, row: int | None = None
    ) -> None:
        self.source = source
        self.field = field
        self.row = row
        self.problem = problem
        where = source
        if row is not None:
            where += f": row {row}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {problem}")


class UsageError(AssistantError):
    pass


class Problem(NamedTuple):
    """One thing wrong in a declarative file: where it is and what is wrong."""

    path: str
    key: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.key}: {self.message}"
            if self.key
            else f"{self.path}: {self.message}"
        )


class RulesetError(AssistantError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class VtexConfigError(AssistantError):
    exit_code = EXIT_USAGE


class VtexApiError(AssistantError):
    """A VTEX call failed, so the check that needed it could not run."""

    exit_code = EXIT_UNDECIDED

    def __init__(self, method: str, path: str, problem: str, status: int | None = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(f"VTEX {method} {path}: {problem}")


class VtexPermissionError(VtexApiError):
    def __init__(self, method: str, path: str, status: int, resource: str | None) -> None:
        self.resource = resource
        if resource is None:
            # The simulation is a `pub` route: its spec lists no resource.
            need = "this public route needs no License Manager resource; check the account"
        else:
            need = f"the API key needs the License Manager resource {resource}"
        if status == 401:
            problem = (
                "401, the API key pair was not accepted "
                f"(check VTEX_APP_KEY and VTEX_APP_TOKEN); {need}"
            )
        else:
            problem = f"{status}, permission denied: {need}"
        super().__init__(method, path, problem, status)
