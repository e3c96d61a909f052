using Federated.Core.Robust;
using Federated.Core.Tests.Aggregation;

namespace Federated.Core.Tests.Robust;

public class UpdateGramTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public void Gram_equals_dense_inner_products_for_mixed_ranks_and_alphas(int seed, bool rsLora)
    {
        using var data = new MixedRankUpdates(seed, [4, 16, 2, 8, 8], useRsLora: rsLora);
        var gram = UpdateGram.Compute(data.Updates);
        using var x = DenseUpdates.Flatten(data.Updates);
        using var expected = x.matmul(x.t());
        using var actual = tensor(Enumerable.Range(0, 5).SelectMany(i => Enumerable.Range(0, 5).Select(j => gram[i, j])).ToArray(), float64).reshape(5, 5);
        TensorAssert.Close(actual, expected, 1e-5);
    }

    /// <summary>
    /// Tiles of at most 12 stacked rows split ranks [4, 16, 2, 8, 8, 4, 2] into six client groups (16 alone, above the tile):
    /// the Gram is the dense one all the same, in float64 GEMMs to 1e-12, as the products of one whole tile are.
    /// </summary>
    [Fact]
    public void A_gram_computed_in_tiles_of_clients_equals_the_dense_inner_products()
    {
        using var data = new MixedRankUpdates(4, [4, 16, 2, 8, 8, 4, 2]);
        var tiled = UpdateGram.Compute(data.Updates, ScalarType.Float64, tileRows: 12);
        var whole = UpdateGram.Compute(data.Updates, ScalarType.Float64);
        using var x = DenseUpdates.Flatten(data.Updates);
        using var expected = x.matmul(x.t());
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 7; j++)
            {
                double e = expected[i, j].item<double>();
                Assert.Equal(e, tiled[i, j], 1e-12 * Math.Max(1, Math.Abs(e)));
                Assert.Equal(whole[i, j], tiled[i, j], 1e-12 * Math.Max(1, Math.Abs(e)));
            }
    }

    [Fact]
    public void Distances_to_a_combination_match_dense_vectors()
    {
        using var data = new MixedRankUpdates(3, [4, 8, 2]);
        var gram = UpdateGram.Compute(data.Updates, ScalarType.Float64);
        using var x = DenseUpdates.Flatten(data.Updates);
        double[] c = [0.2, -0.5, 1.3];
        using var z = DenseUpdates.Combine(x, c);
        for (int i = 0; i < 3; i++)
            Assert.Equal((x[i] - z).pow(2).sum().item<double>(), gram.SquaredDistanceTo(i, c), 1e-9);
        Assert.Equal(z.pow(2).sum().item<double>(), gram.SquaredNorm(c), 1e-9);
        Assert.Equal((x[0] - x[2]).pow(2).sum().item<double>(), gram.SquaredDistance(0, 2), 1e-9);
    }
}
