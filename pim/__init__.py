"""Processing-in-memory arrays: weight memories with MAC lanes beside them.

* :class:`pim.lane.PIMLane` -- one weight memory and the multiply-accumulate lane that reads it;
* :class:`pim.array.PIMArray` -- lanes sharing one broadcast input and one load port;
* :class:`pim.sram.SRAM` -- the RAM of every memory: an Amaranth memory or an SRAM macro;
* :class:`pim.product.RegisteredProduct` -- a multiplier and its register, which a platform
  may map to a hard multiplier with its own output register.
"""

from .lane import PIMLane
from .array import PIMArray
from .sram import SRAM
from .product import RegisteredProduct

__all__ = ["PIMLane", "PIMArray", "SRAM", "RegisteredProduct"]
