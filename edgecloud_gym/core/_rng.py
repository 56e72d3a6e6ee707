"""numpy's PCG64 streams, drawn in compiled loops over many systems at once.

A reset of a thousand systems makes a few draws per system before its Poisson arrivals, and
calling compiled code once per system (once per ``numpy.random.Generator``) cost more than the
draws. This module copies the state of each system's PCG64 bit generator into one array,
draws from it inside compiled loops exactly what the ``Generator`` would draw, and writes the
states back, so the generators end where they would have ended (``tests/test_rng.py`` checks
it draw for draw).

- PCG64 (O'Neill 2014, "PCG: A family of simple fast space-efficient statistically good
  algorithms for random number generation", HMC-CS-2014-0905): a 128-bit LCG with numpy's
  multiplier, output XSL-RR (the xor of the state's halves rotated by its top 6 bits).
- ``uniform``: a double in [0, 1) from the top 53 bits of one 64-bit output.
- ``bounded``: an integer in [0, high) by Lemire's multiply-and-reject method on 32-bit outputs
  (D. Lemire, "Fast random integer generation in an interval", ACM TOMACS 29 (2019)), with
  PCG64's spare-half buffer, as ``Generator.integers`` draws for ranges below 2**32.

The compiled samplers are written once against ``uniform(src, j)`` and ``bounded(src, j,
high)``: ``src`` is either this module's state array (row ``j``) or a ``Generator`` (any bit
generator; ``j`` unused), which numba compiles into two versions of the same loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgecloud_gym.core._jit import HAVE_NUMBA, jit

__all__ = ["bounded", "is_pcg64", "read_states", "uniform", "write_states"]

_MASK64 = (1 << 64) - 1
_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # numpy's PCG64 multiplier
_MULT_HI = np.uint64(_MULT >> 64)
_MULT_LO = np.uint64(_MULT & _MASK64)
_U11 = np.uint64(11)
_U32 = np.uint64(32)
_U58 = np.uint64(58)
_U63 = np.uint64(63)
_U64 = np.uint64(64)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV_2_53 = 1.0 / 9007199254740992.0

# Columns of a state array: the 128-bit state and increment as high and low words, PCG64's
# spare 32-bit half and whether it holds one.
_STATE_HI, _STATE_LO, _INC_HI, _INC_LO, _HAS_HALF, _HALF = range(6)


def is_pcg64(rngs: Sequence[np.random.Generator]) -> bool:
    """Whether every generator's bit generator is numpy's PCG64 (what ``read_states`` reads)."""
    return all(type(r.bit_generator) is np.random.PCG64 for r in rngs)


def read_states(rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """(B, 6) uint64: the PCG64 state of each generator, for the compiled draws."""
    words = []
    for r in rngs:
        full = r.bit_generator.state
        state, inc = full["state"]["state"], full["state"]["inc"]
        halves = (state >> 64, state & _MASK64, inc >> 64, inc & _MASK64)
        words.append((*halves, full["has_uint32"], full["uinteger"]))
    return np.array(words, dtype=np.uint64).reshape(len(words), 6)


def write_states(rngs: Sequence[np.random.Generator], states: np.ndarray) -> None:
    """Store the states the compiled draws advanced back into their generators."""
    for r, (s_hi, s_lo, i_hi, i_lo, has, half) in zip(rngs, states.tolist(), strict=True):
        r.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": (s_hi << 64) | s_lo, "inc": (i_hi << 64) | i_lo},
            "has_uint32": has,
            "uinteger": half,
        }


if HAVE_NUMBA:  # pragma: no cover - depends on the install
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _mul_high(typingctx, a, b):
        """The high 64 bits of the 128-bit product of two uint64."""

        def codegen(context, builder, signature, args):
            wide = ir.IntType(128)
            product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
            return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

        return types.uint64(types.uint64, types.uint64), codegen

    @jit
    def _next64(states, j):
        """PCG64's next output for row ``j``: state = state * M + inc (mod 2**128), then
        XSL-RR of the new state."""
        hi, lo = states[j, _STATE_HI], states[j, _STATE_LO]
        new_lo = lo * _MULT_LO
        new_hi = _mul_high(lo, _MULT_LO) + hi * _MULT_LO + lo * _MULT_HI
        s_lo = new_lo + states[j, _INC_LO]
        s_hi = new_hi + states[j, _INC_HI] + (_ONE if s_lo < new_lo else np.uint64(0))
        states[j, _STATE_HI] = s_hi
        states[j, _STATE_LO] = s_lo
        x = s_hi ^ s_lo
        rot = s_hi >> _U58
        return (x >> rot) | (x << ((_U64 - rot) & _U63))

    @jit
    def _next32(states, j):
        """32 bits, each 64-bit output giving its low half now and its high half next."""
        if states[j, _HAS_HALF]:
            states[j, _HAS_HALF] = 0
            return states[j, _HALF]
        word = _next64(states, j)
        states[j, _HAS_HALF] = 1
        states[j, _HALF] = word >> _U32
        return word & _LOW32


def uniform(src, j):  # compiled per source type (see the module docstring)
    """A double in [0, 1) from ``src`` (a state array's row ``j``, or a ``Generator``)."""
    return src.random()


def bounded(src, j, high):
    """An integer in [0, high) from ``src``: ``Generator.integers(high)``'s draw, high <= 2**32."""
    return src.integers(0, high)


if HAVE_NUMBA:  # pragma: no cover - depends on the install

    @overload(uniform, jit_options={"nogil": True})
    def _uniform(src, j):
        if isinstance(src, types.Array):

            def from_states(src, j):
                return float(_next64(src, j) >> _U11) * _INV_2_53

            return from_states
        return lambda src, j: src.random()

    @overload(bounded, jit_options={"nogil": True})
    def _bounded(src, j, high):
        if isinstance(src, types.Array):

            def from_states(src, j, high):
                top = np.uint64(high - 1)
                if top == 0:
                    return np.int64(0)
                if top == _LOW32:
                    return np.int64(_next32(src, j))
                span = top + _ONE
                m = _next32(src, j) * span
                rest = m & _LOW32
                if rest < span:
                    threshold = (_LOW32 - top) % span
                    while rest < threshold:
                        m = _next32(src, j) * span
                        rest = m & _LOW32
                return np.int64(m >> _U32)

            return from_states
        return lambda src, j, high: src.integers(0, high)
