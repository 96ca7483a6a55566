"""The `sqnflash` command table and its entry point."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from sqnflash import __version__
from sqnflash.cli.bundle_cmd import bundle_cmd
from sqnflash.cli.check_cmd import catalogue_cmd, check
from sqnflash.cli.demo_cmd import demo
from sqnflash.cli.history_cmd import history
from sqnflash.cli.invoke import run
from sqnflash.cli.plan_cmd import plan_cmd
from sqnflash.cli.ports_cmd import ports_cmd
from sqnflash.cli.recover_cmd import recover_cmd
from sqnflash.cli.replay_cmd import replay_cmd
from sqnflash.cli.sim_cmd import sim
from sqnflash.cli.upgrade_cmd import info, upgrade_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sqnflash")
def cli() -> None:
    """Inspect, upgrade and rescue the firmware of Sequans Monarch LTE modems."""


cli.add_command(info)
cli.add_command(upgrade_cmd)
cli.add_command(demo)
cli.add_command(sim)
cli.add_command(check)
cli.add_command(plan_cmd)
cli.add_command(catalogue_cmd)
cli.add_command(recover_cmd)
cli.add_command(history)
cli.add_command(ports_cmd)
cli.add_command(replay_cmd)
cli.add_command(bundle_cmd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (for scripts and tests)."""
    return run(cli, argv)


def entry_point() -> None:
    sys.exit(main())
