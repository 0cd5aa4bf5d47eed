"""The RPU hardware in Amaranth: top level, controller, cell engine and its units.

Nothing here knows of simulators, EDA flows, model formats or the command line; the PIM
arrays themselves come from the library layer :mod:`pim`.
"""
