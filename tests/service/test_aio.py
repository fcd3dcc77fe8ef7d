"""The asyncio SDK (nnfunc.AsyncClient) against the real in-process server.

Each test runs its own event loop (asyncio.run), creating the client inside it.
Golden values are closed forms worked by hand.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

import nnfunc


def run(address, body, **kwargs):
    async def main():
        async with nnfunc.AsyncClient(address, timeout=60.0, **kwargs) as c:
            return await body(c)

    return asyncio.run(main())


def test_catalog_calls(address):
    async def body(c):
        infos = await c.list_functions()
        losses = await c.list_functions("loss")
        return infos, losses, await c.describe("softmax")

    infos, losses, info = run(address, body)
    names = [i.name for i in infos]
    assert names == sorted(names) and "relu" in names
    assert all(i.kind == "loss" for i in losses)
    assert info.name == "softmax" and info.param("dim").default == -1


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_evaluate_and_gradient_keep_the_dtype(address, dtype):
    x = np.zeros(3, dtype=dtype)

    async def body(c):
        return await c.evaluate("sigmoid", x), await c.gradient("sigmoid", x, grad_output=x + 2)

    y, dx = run(address, body)
    # σ(0) = 1/2; 2 · σ'(0) = 2 · 1/4
    assert y.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, [0.5] * 3)
    np.testing.assert_array_equal(dx, [0.5] * 3)


def test_concurrent_calls_answer_each_their_own(address):
    xs = [np.array([float(k), -float(k)]) for k in range(8)]

    async def body(c):
        return await asyncio.gather(*(c.evaluate("relu", x) for x in xs))

    for k, y in enumerate(run(address, body)):
        np.testing.assert_array_equal(y, [k, 0.0])


def test_softmax_parameters(address):
    x = np.array([0.0, math.log(3.0)])

    async def body(c):
        return await c.evaluate("softmax", x, dim=0)

    # softmax of [0, ln 3] = [1, 3] / 4
    np.testing.assert_allclose(run(address, body), [0.25, 0.75])


def test_loss_and_check_gradient(address):
    async def body(c):
        names = {i.name for i in await c.list_functions("loss")}
        loss = (
            await c.loss("mse_loss", [1.0, 2.0, 3.0], [0.0, 2.0, 5.0])
            if "mse_loss" in names
            else None
        )
        rep = await c.check_gradient("sigmoid", np.array([0.5, -1.0]))
        bad = await c.check_gradient("sigmoid", np.array([0.0]), grad=np.array([1.0]))
        return loss, rep, bad

    loss, rep, bad = run(address, body)
    if loss is not None:
        # mean((x − t)²) = 5/3; ∂/∂x = 2 (x − t) / 3
        assert loss.value == pytest.approx(5 / 3)
        np.testing.assert_allclose(loss.grad, [2 / 3, 0.0, -4 / 3])
    assert rep.passed and not rep.checked_supplied
    # σ'(0) = 1/4, not 1
    assert not bad.passed and bad.checked_supplied


def test_batch(address):
    async def body(c):
        return await c.batch(
            [
                c.request.evaluate("relu", [-1.0, 2.0]),
                c.request.evaluate("nope", [1.0]),
                c.request.gradient("relu", [3.0]),
            ]
        )

    y, missing, dx = run(address, body)
    np.testing.assert_array_equal(y, [0.0, 2.0])
    assert isinstance(missing, nnfunc.NotFoundError) and missing.field == "function"
    np.testing.assert_array_equal(dx, [1.0])


def test_errors_raise_the_family(address):
    async def body(c):
        errors = []
        for call in (
            c.describe("relux"),
            c.evaluate("softmax", [1.0], dim="x"),
            c.loss("relu", [1.0], [1.0]),
        ):
            try:
                await call
            except nnfunc.Error as e:
                errors.append(e)
        return errors

    missing, bad_param, not_loss = run(address, body)
    assert isinstance(missing, KeyError) and missing.code == "NOT_FOUND"
    assert "'relu'" in missing.message
    assert isinstance(bad_param, ValueError) and bad_param.field == "parameters.dim"
    assert isinstance(not_loss, nnfunc.InvalidArgumentError) and not_loss.field == "function"


def test_a_passed_deadline_raises_deadline_exceeded(address):
    x = np.zeros(1_000_000, np.float32)

    async def body(c):
        await c.evaluate("sigmoid", x, timeout=1e-6)

    with pytest.raises(nnfunc.DeadlineExceededError):
        run(address, body)


def test_metadata_and_several_targets(address):
    async def body(c):
        return await c.evaluate("relu", [5.0], metadata=[("x-request-id", "7")])

    assert run(address, body, metadata=[("x-team", "ml")])[0] == 5.0

    async def several():
        async with nnfunc.AsyncClient([address, address]) as c:
            return [await c.evaluate("relu", [-1.0]) for _ in range(3)]

    assert all(y[0] == 0.0 for y in asyncio.run(several()))
