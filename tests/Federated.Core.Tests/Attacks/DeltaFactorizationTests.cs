using Federated.Core.Adapters;
using Federated.Attacks;

namespace Federated.Core.Tests.Attacks;

public class DeltaFactorizationTests
{
    static Tensor LowRank(int dOut, int dIn, int rank, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        return randn(dOut, rank, float64, generator: generator).matmul(randn(rank, dIn, float64, generator: generator)).MoveToOuterDisposeScope();
    }

    [Theory]
    [InlineData(4, false)]
    [InlineData(8, false)]
    [InlineData(24, true)]
    [InlineData(30, false)]
    public void Factoring_a_rank_4_delta_at_rank_4_or_more_reproduces_it_at_that_rank_and_alpha(int rank, bool rsLora)
    {
        using var delta = LowRank(24, 40, 4, seed: 1);
        using var module = DeltaFactorization.Factor("m", delta, rank, alpha: 16, rsLora);

        Assert.Equal(rank, module.Rank);
        Assert.Equal(16, module.Alpha);
        Assert.Equal(LoraScaling.Scale(16, rank, rsLora), module.Scale);
        Assert.Equal(ScalarType.Float32, module.DType);
        using var roundTrip = module.DenseDelta(float64);
        TensorAssert.Close(roundTrip, delta, 1e-5);
    }

    [Fact]
    public void Factoring_below_the_rank_gives_the_truncated_svd_with_orthonormal_rows_of_a()
    {
        using var scope = NewDisposeScope();
        var delta = LowRank(24, 40, 24, seed: 2);
        using var module = DeltaFactorization.Factor("m", delta, 5, alpha: 3);

        var (u, s, vh) = linalg.svd(delta, fullMatrices: false);
        var truncated = (u.narrow(1, 0, 5) * s.narrow(0, 0, 5)).matmul(vh.narrow(0, 0, 5));
        TensorAssert.Close(module.DenseDelta(float64), truncated, 1e-5);
        var a = module.A.to(float64);
        TensorAssert.Close(a.matmul(a.t()), eye(5, dtype: float64), 1e-5);
    }

    [Fact]
    public void An_adapter_flattened_and_factored_back_keeps_its_deltas_names_and_base_model()
    {
        using var updates = new ClusteredUpdates(seed: 3);
        using var flat = DeltaFactorization.Flatten(updates.Own);
        using var refactored = DeltaFactorization.Factor(flat, updates.Own, rank: 6, alpha: 12);

        Assert.Equal(updates.Own.Modules.Select(m => m.Name), refactored.Modules.Select(m => m.Name));
        Assert.Equal(ClusteredUpdates.BaseModel, refactored.BaseModel);
        Assert.All(refactored.Modules, m => Assert.Equal((6, 12.0), (m.Rank, m.Alpha)));
        foreach (var m in updates.Own.Modules)
        {
            using var expected = m.DenseDelta(float64);
            using var actual = refactored[m.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }

    [Fact]
    public void Flattening_against_a_layout_with_other_module_shapes_is_rejected()
    {
        using var own = RandomAdapters.Create(ClusteredUpdates.Shapes, 4, 8, seed: 4);
        using var other = RandomAdapters.Create(ModuleShape.LlamaFamily(hidden: 32, layers: 2, targets: ["q_proj", "v_proj"]), 4, 8, seed: 5);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => DeltaFactorization.Flatten(other, own));
        Assert.Contains("v_proj", e.Message);
    }
}
