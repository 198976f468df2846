"""The click layer: parse, call the engine, format. Commands are loaded lazily
(as iocage does) so that `jocker ps` does not import the build machinery."""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import JockerError

# command name -> "module:attribute" below jocker.cli
COMMANDS = {
    "import": "images:import_cmd",
    "images": "images:images_cmd",
    "tag": "images:tag_cmd",
    "rmi": "images:rmi_cmd",
    "history": "images:history_cmd",
    "image": "images:image_group",
    "inspect": "inspect:inspect_cmd",
    "system": "system:system_group",
    "info": "system:info_cmd",
    "events": "system:events_cmd",
    "version": "system:version_cmd",
    "run": "containers:run_cmd",
    "create": "containers:create_cmd",
    "start": "containers:start_cmd",
    "attach": "containers:attach_cmd",
    "stop": "containers:stop_cmd",
    "restart": "containers:restart_cmd",
    "kill": "containers:kill_cmd",
    "rm": "containers:rm_cmd",
    "ps": "containers:ps_cmd",
    "logs": "containers:logs_cmd",
    "wait": "containers:wait_cmd",
    "rename": "containers:rename_cmd",
    "update": "update:update_cmd",
    "container": "containers:container_group",
    "exec": "inside:exec_cmd",
    "top": "inside:top_cmd",
    "cp": "inside:cp_cmd",
    "diff": "inside:diff_cmd",
    "commit": "inside:commit_cmd",
    "export": "inside:export_cmd",
    "volume": "volumes:volume_group",
    "network": "networks:network_group",
    "port": "networks:port_cmd",
    "build": "build:build_cmd",
    "serve": "serve:serve_cmd",
    "compose": "compose:compose_cmd",
    "stats": "stats:stats_cmd",
    "pause": "containers:pause_cmd",
    "unpause": "containers:unpause_cmd",
    "pull": "ship:pull_cmd",
    "push": "ship:push_cmd",
    "login": "ship:login_cmd",
    "logout": "ship:logout_cmd",
    "save": "ship:save_cmd",
    "load": "ship:load_cmd",
}


class LazyGroup(click.Group):
    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        return super().get_command(ctx, name)


class Ctx:
    """What every command gets: the global options, the command's name (for
    the exit-code table) and the engine API, built on first use."""

    def __init__(self):
        self.config_file = None
        self.overrides: dict = {}
        self.debug = False
        self.command: str | None = None
        self._api = None

    @property
    def api(self):
        if self._api is None:
            from ..engine_api import open_api
            self._api = open_api(self.config_file, self.overrides)
        return self._api

    @property
    def engine(self):
        """The engine itself, for `serve` only, which hands it to the other
        front end (the API server); commands call `api`."""
        return self.api.engine


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", envvar="JOCKER_DATASET", help="Root ZFS dataset (default: the embedded pool).")
@click.option("--config", "config_file", envvar="JOCKER_CONFIG", help="Configuration file "
              "(default /usr/local/etc/jocker.conf).")
@click.option("-D", "--debug", is_flag=True, help="Log host commands and show tracebacks.")
@click.version_option(package_name=None, prog_name="jocker", message="%(prog)s version %(version)s",
                      version=__import__("jocker").__version__)
@click.pass_context
def cli(ctx, dataset, config_file, debug):
    """A Docker-style container engine for FreeBSD: jails, ZFS and pf.

    \b
    Examples:
      jocker import base.txz freebsd:14.3
      jocker build -t web .
      jocker run -d --name web web
    """
    if debug:
        # Only then: logging costs every command ~5 ms of imports, and the
        # runner logs host commands only once logging is loaded. Warnings from
        # the engine still reach stderr through logging's last-resort handler.
        import logging
        logging.basicConfig(level=logging.DEBUG, format="jocker: %(message)s")
    if ctx.obj is None:
        ctx.obj = Ctx()
    ctx.obj.config_file, ctx.obj.overrides, ctx.obj.debug = config_file, {"dataset": dataset}, debug
    ctx.obj.command = ctx.invoked_subcommand


def run() -> None:
    debug = "--debug" in sys.argv or "-D" in sys.argv
    state = Ctx()
    try:
        rc = cli.main(prog_name="jocker", standalone_mode=False, obj=state)
        if isinstance(rc, int):
            sys.exit(rc)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.MissingParameter as e:
        e.show()
        # The docker CLI exits 1 for a missing positional ("requires at least
        # 1 argument"); a missing flag value stays a flag error (125).
        sys.exit(1 if isinstance(e.param, click.Argument) else 125)
    except click.ClickException as e:
        e.show()
        sys.exit(125)        # Docker's exit code for bad flags
    except click.exceptions.Abort:
        sys.exit(130)
    except JockerError as e:
        if debug:
            import traceback
            traceback.print_exc()
        from .exitcodes import exit_code
        click.echo(f"Error: {e}", err=True)
        sys.exit(exit_code(e.kind, state.command))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:            # a full pool or a stale mount: one line, not a traceback
        from ..errors import STORAGE_ERRNOS, storage_failure
        if e.errno not in STORAGE_ERRNOS or debug:
            raise
        click.echo(f"Error: {storage_failure(e)}", err=True)
        sys.exit(125)
