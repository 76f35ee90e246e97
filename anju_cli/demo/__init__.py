"""Everything ``anju demo`` seeds and runs: the simulated community (``community``), its
enrolled faces and passes (``pedestrians``), car park (``car_park``), supervision records
(``supervision``) and console accounts (``users``). Nothing outside the demo imports it."""

from anju_cli.demo.community import Demo, DemoOptions, load_demo_site, run_demo, without_credentials

__all__ = ["Demo", "DemoOptions", "load_demo_site", "run_demo", "without_credentials"]
