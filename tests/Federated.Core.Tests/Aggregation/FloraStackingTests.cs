using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class FloraStackingTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void Stacking_equals_weighted_sum_of_deltas_for_mixed_ranks_and_alphas(int seed, bool rsLora)
    {
        using var data = new MixedRankUpdates(seed, [4, 4, 8, 16, 2], useRsLora: rsLora);
        using var global = new FloraStacking().Aggregate(data.Updates, data.Coefficients);

        foreach (var shape in MixedRankUpdates.Shapes)
        {
            var m = global[shape.Name];
            // R = 34 stacks on q and down_proj; k and v (16 x 48) are bounded at rank 16, the same sum (A8).
            Assert.Equal(Math.Min(4 + 4 + 8 + 16 + 2, Math.Min(shape.InFeatures, shape.OutFeatures)), m.Rank);
            Assert.Equal(1.0, m.Scale, 12);
            using var expected = TensorAssert.WeightedDeltaSum(data.Updates, data.Coefficients, shape.Name);
            using var actual = m.DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }

    [Fact]
    public void Stacking_is_exact_for_arbitrary_unnormalised_coefficients()
    {
        using var data = new MixedRankUpdates(7, [8, 2, 4]);
        double[] gamma = [0.7, -0.2, 1.9];
        using var global = new FloraStacking().Aggregate(data.Updates, gamma);
        var name = MixedRankUpdates.Shapes[1].Name;
        using var expected = TensorAssert.WeightedDeltaSum(data.Updates, gamma, name);
        using var actual = global[name].DenseDelta(float64);
        TensorAssert.Close(actual, expected, 1e-5);
    }

    [Fact]
    public void Updates_with_coefficient_zero_are_left_out_of_the_stack_and_the_sum_is_unchanged()
    {
        using var data = new MixedRankUpdates(11, [4, 16, 2, 8]);
        double[] gamma = [0.6, 0, 0.4, 0]; // what Krum-like rules return: most updates get nothing

        using var global = new FloraStacking().Aggregate(data.Updates, gamma);

        foreach (var shape in MixedRankUpdates.Shapes)
        {
            Assert.Equal(4 + 2, global[shape.Name].Rank);
            using var expected = TensorAssert.WeightedDeltaSum(data.Updates, gamma, shape.Name);
            using var actual = global[shape.Name].DenseDelta(float64);
            TensorAssert.Close(actual, expected, 1e-5);
        }
    }

    [Fact]
    public void Stacked_B_blocks_are_the_clients_B_unchanged_in_client_order()
    {
        using var data = new MixedRankUpdates(5, [2, 3]);
        using var global = new FloraStacking().Aggregate(data.Updates, data.Coefficients);
        var name = MixedRankUpdates.Shapes[0].Name;
        Assert.True(global[name].B.narrow(1, 0, 2).eq(data.Updates[0][name].B).all().item<bool>());
        Assert.True(global[name].B.narrow(1, 2, 3).eq(data.Updates[1][name].B).all().item<bool>());
    }

    [Fact]
    public void Stacking_keeps_bf16_inputs_in_bf16()
    {
        using var data = new MixedRankUpdates(9, [4, 8]);
        var bf16 = data.Updates.Select(u => u.To(ScalarType.BFloat16)).ToList();
        using var global = new FloraStacking().Aggregate(bf16, data.Coefficients);
        Assert.All(global.Modules, m => Assert.Equal(ScalarType.BFloat16, m.DType));
        var name = MixedRankUpdates.Shapes[0].Name;
        using var expected = TensorAssert.WeightedDeltaSum(bf16, data.Coefficients, name);
        using var actual = global[name].DenseDelta(float64);
        TensorAssert.Close(actual, expected, 1e-2); // bf16 has an 8-bit mantissa
        foreach (var u in bf16) u.Dispose();
    }
}
