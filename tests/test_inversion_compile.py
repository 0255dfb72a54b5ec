"""torch.compile of the inversion step: one compiled variant per configuration, whatever the batch size
(the last, smaller batch of a stage included), and more configurations than dynamo's default limit of 8
stay compiled. Dynamo's "eager" backend keeps the tests fast: it traces as the default one does."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from bigprior.degradations import BlindAWGN, Colorization, Inpainting
from bigprior.errors import BIGPriorError
from bigprior.generators import PGGANGenerator
from bigprior.inversion import InversionLoss, MultiCodeGenerator, invert
from bigprior.inversion import compiled as compiled_module
from bigprior.inversion.compiled import RECOMPILE_LIMIT

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile with the eager backend, counters and caches fresh (restored after)."""
    compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda function, **kwargs: compile(function, backend="eager", **kwargs))
    limit = torch._dynamo.config.recompile_limit
    compiled_module.compiled.cache_clear()
    torch._dynamo.reset()
    counters.clear()
    yield lambda: counters["stats"]["unique_graphs"]
    compiled_module.compiled.cache_clear()
    torch._dynamo.reset()
    torch._dynamo.config.recompile_limit = limit


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return PGGANGenerator(16, z_dim=8, fmaps_max=8).eval().requires_grad_(False)


def run(generator, degradation, batch, compile, layer=2, codes=3):
    targets = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(batch)) * 2 - 1
    masks = torch.zeros(batch, 1, 16, 16) if degradation.has_mask else None
    return invert(MultiCodeGenerator(generator, layer, codes), InversionLoss(), targets, degradation=degradation,
                  masks=masks, iterations=2, compile=compile)


def test_a_stage_compiles_once_for_all_its_batch_sizes(eager_compile, generator):
    for batch in (4, 4, 3, 2):  # a stage's batches, then the last, smaller one
        result = run(generator, Colorization(), batch, compile=True)
        torch.testing.assert_close(result.image, run(generator, Colorization(), batch, compile=False).image)
    assert eager_compile() == 1
    run(generator, Colorization(), 1, compile=True)  # dynamo specialises a batch of one: at most one more
    assert eager_compile() <= 2


def test_more_configurations_than_dynamos_default_limit_stay_compiled(eager_compile, generator):
    configurations = [(degradation, layer) for degradation in (Colorization(), Inpainting(), BlindAWGN())
                      for layer in (1, 2, 3)]  # 9 > 8
    for degradation, layer in configurations:
        for batch in (3, 2):
            run(generator, degradation, batch, compile=True, layer=layer)
    assert eager_compile() == len(configurations)
    assert torch._dynamo.config.recompile_limit >= RECOMPILE_LIMIT
    assert not counters["stats"].get("recompile_limit_hit") and not any("limit" in k for k in counters["unimplemented"])


def test_static_compile_fixes_the_batch_size_and_dynamic_does_not(eager_compile, generator):
    """"static" (a benchmark's one batch size): nothing is marked dynamic, so a new batch size compiles again;
    the results equal the eager loop's."""
    for batch in (4, 4):
        result = invert(MultiCodeGenerator(generator, 2, 3), InversionLoss(), torch.rand(batch, 3, 16, 16) * 2 - 1,
                        degradation=Colorization(), iterations=2, compile="static")
        assert torch.isfinite(result.image).all()
    assert eager_compile() == 1
    torch.testing.assert_close(run(generator, Colorization(), 3, compile="static").image,
                               run(generator, Colorization(), 3, compile=False).image)
    assert eager_compile() == 2  # batch 3: a second static variant (the dynamic mode serves it with the first)


def test_an_unknown_compile_mode_is_refused_in_one_line(generator):
    with pytest.raises(BIGPriorError, match="compile must be True, False or one of dynamic, static, got 'max'"):
        run(generator, Colorization(), 2, compile="max")
