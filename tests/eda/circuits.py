"""Small circuits and Liberty texts shared by the tests of :mod:`rpu.eda` (not a test
module itself)."""


def write(path, text):
    """Write ``text`` to ``path``; return ``path``."""
    path.write_text(text)
    return path


GATES_V = """
module nand_inv(input a, input b, input c, output y, output z);
  assign y = ~(a & b);
  assign z = ~c;
endmodule
"""

AND_V = """
module andg(input a, input b, input c, output y, output z);
  assign y = a & b;
  assign z = ~c;
endmodule
"""


def timing_arc(pin, delay, kind=None):
    """A Liberty ``timing`` group related to ``pin`` with scalar delay ``delay`` (ns) and
    output transition 0.02 ns, of ``timing_type`` ``kind`` if given."""
    timing_type = f'timing_type : "{kind}"; ' if kind else ""
    return (f'timing () {{ related_pin : "{pin}"; {timing_type}'
            f'cell_rise (scalar) {{ values ("{delay}"); }} '
            f'cell_fall (scalar) {{ values ("{delay}"); }} '
            f'rise_transition (scalar) {{ values ("0.02"); }} '
            f'fall_transition (scalar) {{ values ("0.02"); }} }}')


TINY_LIB = f"""
/* A tiny library with areas in um2 */
library (tiny_um2) {{
  time_unit : "1ns";
  capacitive_load_unit (1, ff);
  cell (TINV) {{
    area : 0.5;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!A"; {timing_arc("A", 0.03)} }}
  }}
  cell (TBUF) {{
    area : 1.25;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "A"; {timing_arc("A", 0.06)} }}
  }}
  cell (TNAND2) {{
    area : 1.0;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A&B)"; {timing_arc("A", 0.05)} {timing_arc("B", 0.05)} }}
  }}
  cell (TNOR2) {{
    area : 1.0;
    pin (A) {{ direction : input; capacitance : 1.0; }}
    pin (B) {{ direction : input; capacitance : 1.0; }}
    pin (Y) {{ direction : output; function : "!(A|B)"; {timing_arc("A", 0.07)} {timing_arc("B", 0.07)} }}
  }}
  cell (TDFF) {{
    area : 4.0;
    ff (IQ, IQN) {{ next_state : "D"; clocked_on : "C"; }}
    pin (C) {{ direction : input; clock : true; capacitance : 1.0; }}
    pin (D) {{ direction : input; capacitance : 1.0; }}
    pin (Q) {{ direction : output; function : "IQ"; }}
  }}
}}
"""
