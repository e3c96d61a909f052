using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class ZeroPaddingTests
{
    /// <summary>Client k's factors padded to rank r with zeros, alpha chosen to keep its scale s_k.</summary>
    static LoraAdapter Padded(LoraAdapter update, int rank) => new(update.Modules.Select(m =>
    {
        var a = zeros(rank, m.InFeatures);
        a.narrow(0, 0, m.Rank).copy_(m.A);
        var b = zeros(m.OutFeatures, rank);
        b.narrow(1, 0, m.Rank).copy_(m.B);
        return new LoraModule(m.Name, a, b, LoraScaling.AlphaFor(m.Scale, rank, m.UseRsLora), m.UseRsLora);
    }));

    [Theory]
    [InlineData(21, false)]
    [InlineData(22, true)]
    public void Zero_padding_equals_fedit_on_zero_padded_factors(int seed, bool rsLora)
    {
        using var data = new MixedRankUpdates(seed, [2, 4, 8, 8], useRsLora: rsLora);
        using var zeroPadded = new ZeroPadding().Aggregate(data.Updates, data.Coefficients);
        var padded = data.Updates.Select(u => Padded(u, 8)).ToList();
        using var fedit = new FedItAveraging().Aggregate(padded, data.Coefficients);

        foreach (var shape in MixedRankUpdates.Shapes)
        {
            Assert.Equal(8, zeroPadded[shape.Name].Rank);
            using var expected = fedit[shape.Name].DenseDelta(float64);
            using var actual = zeroPadded[shape.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-6);
        }
        foreach (var p in padded) p.Dispose();
    }

    [Fact]
    public void HetLora_weights_each_module_by_the_norm_of_its_update()
    {
        using var data = new MixedRankUpdates(23, [2, 8, 4]);
        using var hetlora = new ZeroPadding(normWeighted: true).Aggregate(data.Updates, data.Coefficients);
        var name = MixedRankUpdates.Shapes[3].Name;
        var normWeights = ClientWeights.Normalize(data.Updates.Select((u, k) => data.Coefficients[k] * LoraNorms.Frobenius(u[name])).ToArray());
        var singles = data.Updates.Select(u => new LoraAdapter([u[name].Clone()])).ToList();
        using var zeroPadded = new ZeroPadding().Aggregate(singles, normWeights);
        using var expected = zeroPadded[name].DenseDelta(float64);
        using var actual = hetlora[name].DenseDelta(float64);
        TensorAssert.Close(actual, expected, 1e-6);
        foreach (var s in singles) s.Dispose();
    }

    [Fact]
    public void Frobenius_norm_from_factors_equals_the_dense_norm()
    {
        using var data = new MixedRankUpdates(24, [6]);
        foreach (var m in data.Updates[0].Modules)
        {
            using var dense = m.DenseDelta();
            Assert.Equal(dense.to(float64).norm().item<double>(), LoraNorms.Frobenius(m), 1e-6);
        }
    }
}
