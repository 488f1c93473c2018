"""The errors order-assistant reports to a user, each knowing its exit code.

    AssistantError                 base: a message for the user, never a traceback
    ├── InputError          (2)    bad order context: names the source, the field, the row
    ├── UsageError          (2)    flags that do not fit together
    └── RulesetError        (2)    a ruleset file that does not load or validate
        (carries every problem found, each with its file and key)

The CLI maps these to exit codes in one place; the core never prints.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Problem:
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
