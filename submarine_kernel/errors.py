"""The one exception family users can cause: every message says what was wrong and how to fix it."""

from __future__ import annotations


class Problem(str):
    """One thing to fix before a job is built, as data: the text users read (it is a `str`, so messages join
    and compare as before), the run request field it is about (`field`: "name", "workers",
    "resources.worker", "params.lr"; "" when none is), and whether a dry run may go ahead without it
    (`dry_run_ok`: a setting only a real submission needs; the preview shows a placeholder and lists it),
    and, where the text names a command-line flag, `form`: the same words for a field in a form, which shows
    them after the field's label ("Workers: must be at least 1", not "--workers 0 is ...").
    Views place a problem by its field, never by reading its words."""

    field: str
    dry_run_ok: bool
    form: str

    def __new__(cls, text: str, field: str = "", dry_run_ok: bool = False, form: str = "") -> "Problem":
        problem = super().__new__(cls, text)
        problem.field, problem.dry_run_ok, problem.form = field, dry_run_ok, form
        return problem

    def __reduce__(self):
        return Problem, (str(self), self.field, self.dry_run_ok, self.form)

    def reworded(self, text: str) -> "Problem":
        """The same problem in other words (a prefix, a hint added)."""
        return Problem(text, self.field, self.dry_run_ok, self.form)


def field_of(problem: str) -> str:
    """The field a problem is about ("" for a plain message)."""
    return getattr(problem, "field", "")


def form_words(problem: str) -> str:
    """What a form says after the field's label (`Problem.form`); "" when the problem has no such words."""
    return getattr(problem, "form", "")


def dry_run_ok(problem: str) -> bool:
    """Whether a dry run may ignore the problem (a setting only a real submission needs)."""
    return getattr(problem, "dry_run_ok", False)


class SubmarineError(Exception):
    """An error the user can fix; shown as one line, without a traceback."""


class ValidationError(SubmarineError):
    """One or more problems found before anything was uploaded or submitted."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class TitleError(ValidationError):
    """A cell title that cannot be an algorithm file name."""


class ResourceError(ValidationError):
    """A resource string that cannot be parsed."""


class StorageError(SubmarineError):
    """An upload, download or clean-up that failed."""


class RuntimeNotFound(SubmarineError):
    """No runtime of that name is registered."""


class JobNotFound(SubmarineError):
    """No job of that name in the registry."""


class RuntimeFailure(SubmarineError):
    """A runtime refused or failed a request (cluster unreachable, credentials, conflicts)."""


class TransientError(RuntimeFailure):
    """A failure that may pass by itself (connection refused, timeout, 5xx): retried with backoff."""


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says a disk (or a quota) is full: an OSError with ENOSPC/EDQUOT, shutil.Error's list of
    failed copies, or sqlite's "database or disk is full"."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text or "database or disk is full" in text
