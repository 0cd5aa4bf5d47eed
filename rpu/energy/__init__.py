"""The modelled energy: a cited per-action table, and the mapping of the RTL's activity
counters onto its actions. Every figure it gives is labelled modelled."""
