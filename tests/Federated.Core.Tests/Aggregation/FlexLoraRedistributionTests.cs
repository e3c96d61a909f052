using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class FlexLoraRedistributionTests
{
    static Tensor DenseTruncatedSvd(Tensor dense, int rank)
    {
        using var scope = NewDisposeScope();
        var (u, s, vh) = linalg.svd(dense, fullMatrices: false);
        return (u.narrow(1, 0, rank) * s.narrow(0, 0, rank)).matmul(vh.narrow(0, 0, rank)).MoveToOuterDisposeScope();
    }

    [Theory]
    [InlineData(31, 8)]
    [InlineData(32, 3)]
    [InlineData(33, 16)]
    public void Florist_refactorisation_equals_the_dense_truncated_svd(int seed, int rank)
    {
        using var data = new MixedRankUpdates(seed, [4, 4, 8, 16]);
        using var global = new FlexLoraRedistribution(rank).Aggregate(data.Updates, data.Coefficients);
        foreach (var shape in MixedRankUpdates.Shapes)
        {
            using var dense = TensorAssert.WeightedDeltaSum(data.Updates, data.Coefficients, shape.Name);
            int kept = Math.Min(rank, Math.Min(shape.InFeatures, shape.OutFeatures));
            using var expected = DenseTruncatedSvd(dense, kept);
            Assert.Equal(kept, global[shape.Name].Rank);
            using var actual = global[shape.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }

    [Fact]
    public void Flexlora_at_the_full_stacked_rank_is_exact()
    {
        using var data = new MixedRankUpdates(34, [2, 3, 4]);
        using var global = new FlexLoraRedistribution(rank: 9).Aggregate(data.Updates, data.Coefficients);
        var name = MixedRankUpdates.Shapes[0].Name;
        using var expected = TensorAssert.WeightedDeltaSum(data.Updates, data.Coefficients, name);
        using var actual = global[name].DenseDelta(float64);
        TensorAssert.Close(actual, expected, 1e-5);
    }

    [Fact]
    public void Default_rank_is_the_largest_client_rank()
    {
        using var data = new MixedRankUpdates(35, [2, 8, 4]);
        using var global = new FlexLoraRedistribution().Aggregate(data.Updates, data.Coefficients);
        Assert.All(global.Modules, m => Assert.Equal(8, m.Rank));
    }

    [Theory]
    [InlineData(2, 4.0)]
    [InlineData(5, 32.0)]
    public void Truncating_the_global_gives_each_client_the_best_rank_r_part_at_its_alpha(int clientRank, double clientAlpha)
    {
        using var data = new MixedRankUpdates(36, [4, 8, 8]);
        using var global = new FlexLoraRedistribution().Aggregate(data.Updates, data.Coefficients);
        using var client = RankTruncation.Truncate(global, clientRank, clientAlpha);
        foreach (var shape in MixedRankUpdates.Shapes)
        {
            var m = client[shape.Name];
            Assert.Equal(clientRank, m.Rank);
            Assert.Equal(clientAlpha, m.Alpha);
            using var dense = TensorAssert.WeightedDeltaSum(data.Updates, data.Coefficients, shape.Name);
            using var expected = DenseTruncatedSvd(dense, clientRank);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }
}
