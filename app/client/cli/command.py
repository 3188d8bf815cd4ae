"""What every cluster command of ``mdbx`` shares: its ``Settings``, the ``--json`` and
``--quiet`` options, and the exit code each failure leaves the shell with.

Exit codes: 0 success, 1 failed operation (or unhealthy cluster for ``status``), 2 usage
error, master unreachable or not logged in, 3 file not found, 4 a sync that would delete
more than ``--max-delete`` allows (nothing done), 130 interrupted (Ctrl+C).
Every transfer goes through ``app.client.api.Client`` (the catalogue) or
``app.client.account_client.AccountClient`` (a user's files); commands only parse,
report and render.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from app.client.errors import ClientError, FileNotFound, MasterUnreachable, NotLoggedIn

if TYPE_CHECKING:
    from app.client.account_client import AccountClient
    from app.client.api import Client

F = TypeVar("F", bound=Callable[..., Any])


class CommandFailed(click.ClickException):
    """An operation failed (exit 1)."""

    exit_code = 1


class MasterDown(click.ClickException):
    """The master did not answer (exit 2, as for a wrong --master)."""

    exit_code = 2


class NotLoggedInError(click.ClickException):
    """An account command without a login (exit 2, as a usage error: log in first)."""

    exit_code = 2


class NotFound(click.ClickException):
    """No such file (exit 3)."""

    exit_code = 3


class Interrupted(click.ClickException):
    """Ctrl+C (exit 130, the shell's convention for SIGINT)."""

    exit_code = 130


@dataclass
class Settings:
    """Group options, shared by every command through the click context."""

    master: str
    json: bool = False
    quiet: bool = False
    parallel: int = 4
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            # Imported on first use: requests is most of the client's start-up, and
            # `mdbx --help` or a usage error need none of it.
            from app.client.api import Client

            self._client = Client(self.master)
            click.get_current_context().call_on_close(self._client.close)
        return self._client

    @property
    def account(self) -> AccountClient:
        """The logged-in user's files, on the same connection pool as ``client``."""
        from app.client.account_client import AccountClient

        return AccountClient(self.client)

    @property
    def chatty(self) -> bool:
        """Whether human-readable output (and progress bars) is wanted."""
        return not (self.json or self.quiet)


def cluster_command(name: str | None = None) -> Callable[[F], click.Command]:
    """Make ``func(settings, ...)`` a command that talks to the cluster: ``--json`` and
    ``--quiet`` here too, errors as one line.

    Expected failures become ``click.ClickException`` subclasses (``Error: ...`` on
    stderr and the exit codes above), never a traceback. The group that lists the
    command adds it (``root.main``, ``admin.user``).
    """
    return functools.partial(_cluster_command, name=name)


def _cluster_command(func: F, name: str | None) -> click.Command:
    @functools.wraps(func)
    def run(*args: Any, as_json: bool, quiet: bool, **kwargs: Any) -> Any:
        settings = click.get_current_context().find_object(Settings)
        assert settings is not None
        settings.json |= as_json
        settings.quiet |= quiet
        try:
            return func(settings, *args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        except ClientError as exc:
            raise as_click_error(exc) from None
        except OSError as exc:
            raise CommandFailed(
                f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
            ) from None

    command = click.command(name)(run)
    command.params += [
        click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output."),
        click.Option(["--quiet", "-q"], is_flag=True, help="Only errors."),
    ]
    return command


def as_click_error(exc: ClientError) -> click.ClickException:
    """Map a client error to the exception (and exit code) the shell sees."""
    if isinstance(exc, MasterUnreachable):
        return MasterDown(f"{exc} (set --master or MDBX_MASTER)")
    if isinstance(exc, NotLoggedIn):
        return NotLoggedInError(str(exc))
    if isinstance(exc, FileNotFound):
        return NotFound(str(exc))
    return CommandFailed(str(exc))
