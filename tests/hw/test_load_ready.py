"""The RPU's load streams (program, weights, state): ready from a register, idle in the
previous cycle and not starting then; the weights stream also not in a cycle with ``start``
(a lane writes a weight word one cycle after it is taken)."""

from rpu.config import RPUConfig
from rpu.hw.top import RPU
from tests.helpers import run_testbench


def test_load_streams_ready_while_idle_and_not_in_a_start():
    dut = RPU(config=RPUConfig(input_size=2, hidden_size=2, pim_arrays=1, lanes_per_array=4,
                               activation_units=1, elementwise_units=1))
    seen = []

    async def testbench(ctx):
        def ready():
            return tuple(ctx.get(stream.ready)
                         for stream in (dut.program, dut.weights, dut.state))

        await ctx.tick()
        seen.append(("idle", ready(), ctx.get(dut.busy)))
        ctx.set(dut.steps, 1)
        ctx.set(dut.start, 1)
        seen.append(("start", ready(), ctx.get(dut.busy)))
        await ctx.tick()
        ctx.set(dut.start, 0)
        seen.append(("after start", ready(), ctx.get(dut.busy)))
        # The run waits for x, busy: nothing is ready until it ends.
        for _ in range(5):
            await ctx.tick()
            seen.append(("running", ready(), ctx.get(dut.busy)))

    run_testbench(dut, testbench)
    assert seen[0] == ("idle", (1, 1, 1), 0)
    # A start: the weights stream is not ready in its cycle, the others are.
    assert seen[1] == ("start", (1, 0, 1), 0)
    # From the next cycle on the RPU is busy and no load stream is ready.
    assert all(entry[1:] == ((0, 0, 0), 1) for entry in seen[2:])
