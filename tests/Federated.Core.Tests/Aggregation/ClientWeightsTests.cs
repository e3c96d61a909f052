using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class ClientWeightsTests
{
    [Fact]
    public void Weights_from_example_counts_are_proportional_and_sum_to_one()
    {
        var p = ClientWeights.FromExampleCounts([100, 300, 0, 600]);
        Assert.Equal([0.1, 0.3, 0.0, 0.6], p.Select(x => Math.Round(x, 12)));
    }

    [Theory]
    [InlineData(new long[] { })]
    [InlineData(new long[] { 0, 0 })]
    [InlineData(new long[] { 5, -1 })]
    public void Example_counts_that_define_no_weighting_are_rejected(long[] counts) =>
        Assert.Throws<ArgumentException>(() => ClientWeights.FromExampleCounts(counts));

    [Fact]
    public void Coefficients_must_match_the_number_of_updates()
    {
        using var data = new MixedRankUpdates(61, [2, 2]);
        Assert.Throws<ArgumentException>(() => new FloraStacking().Aggregate(data.Updates, [1.0]));
    }
}
