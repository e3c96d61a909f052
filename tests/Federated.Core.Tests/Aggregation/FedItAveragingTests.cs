using Federated.Core.Adapters;
using Federated.Core.Aggregation;

namespace Federated.Core.Tests.Aggregation;

public class FedItAveragingTests
{
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void FedIt_error_is_minus_the_weighted_cross_covariance_of_the_factors(int seed)
    {
        using var data = new MixedRankUpdates(seed, [8, 8, 8, 8], sameAlpha: true);
        using var global = new FedItAveraging().Aggregate(data.Updates, data.Coefficients);

        foreach (var shape in MixedRankUpdates.Shapes)
        {
            using var scope = NewDisposeScope();
            var g = global[shape.Name];
            var bg = g.B.to(float64);
            var ag = g.A.to(float64);
            // B_g A_g - sum p_k B_k A_k  ==  - sum p_k (B_k - B_g)(A_k - A_g)
            var lhs = bg.matmul(ag);
            var crossCovariance = zeros_like(lhs);
            for (int k = 0; k < data.Updates.Count; k++)
            {
                var m = data.Updates[k][shape.Name];
                lhs -= data.Coefficients[k] * m.B.to(float64).matmul(m.A.to(float64));
                crossCovariance += data.Coefficients[k] * (m.B.to(float64) - bg).matmul(m.A.to(float64) - ag);
            }
            TensorAssert.Close(lhs, -crossCovariance, 1e-5);
            Assert.True(lhs.norm().item<double>() > 1e-6, "independent factors must give a non-zero FedIT error");
        }
    }

    [Fact]
    public void FedIt_averages_each_factor_with_the_client_weights()
    {
        using var data = new MixedRankUpdates(13, [4, 4, 4], sameAlpha: true);
        using var global = new FedItAveraging().Aggregate(data.Updates, data.Coefficients);
        var name = MixedRankUpdates.Shapes[2].Name;
        using var expectedA = data.Updates.Select((u, k) => u[name].A * data.Coefficients[k]).Aggregate((x, y) => x + y);
        TensorAssert.Close(global[name].A, expectedA, 1e-6);
        Assert.Equal(data.Updates[0][name].Alpha, global[name].Alpha);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void FedIt_folds_each_clients_scale_into_its_B_for_every_module(ScalarType dtype)
    {
        // Float32 factors take the host path over their own memory, bfloat16 ones the converting kernels: both give
        // A_g = sum p_k A_k and B_g = sum p_k (s_k / s_g) B_k.
        using var data = new MixedRankUpdates(16, [16, 16, 16]);
        var inputs = data.Updates.Select(u => u.To(dtype)).ToList();
        try
        {
            using var global = new FedItAveraging(ScalarType.Float32).Aggregate(inputs, data.Coefficients);
            foreach (var shape in MixedRankUpdates.Shapes)
            {
                using var scope = NewDisposeScope();
                var g = global[shape.Name];
                var expectedA = zeros(g.A.shape, float64);
                var expectedB = zeros(g.B.shape, float64);
                for (int k = 0; k < inputs.Count; k++)
                {
                    var m = inputs[k][shape.Name];
                    expectedA += data.Coefficients[k] * m.A.to(float64);
                    expectedB += data.Coefficients[k] * m.Scale / g.Scale * m.B.to(float64);
                }
                TensorAssert.Close(g.A.to(float64), expectedA, 1e-6);
                TensorAssert.Close(g.B.to(float64), expectedB, 1e-6);
            }
        }
        finally
        {
            foreach (var u in inputs) u.Dispose();
        }
    }

    [Fact]
    public void FedIt_rejects_mixed_ranks_naming_the_module_and_the_alternatives()
    {
        using var data = new MixedRankUpdates(14, [4, 8]);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => new FedItAveraging().Aggregate(data.Updates, data.Coefficients));
        Assert.Contains("same rank", e.Message);
        Assert.Contains(MixedRankUpdates.Shapes[0].Name, e.Message);
        Assert.Contains("flora", e.Message);
    }

    [Fact]
    public void Updates_adapting_different_modules_are_rejected()
    {
        using var a = RandomAdapters.Create(MixedRankUpdates.Shapes, 4, 8, seed: 1);
        using var b = RandomAdapters.Create(MixedRankUpdates.Shapes.Skip(1).ToList(), 4, 8, seed: 2);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => new FloraStacking().Aggregate([a, b], [0.5, 0.5]));
        Assert.Contains("missing", e.Message);
        Assert.Contains(MixedRankUpdates.Shapes[0].Name, e.Message);
    }

    [Fact]
    public void Updates_with_different_layer_shapes_are_rejected()
    {
        using var a = RandomAdapters.Create([new ModuleShape("m.q_proj", 8, 8)], 2, 4, seed: 1);
        using var b = RandomAdapters.Create([new ModuleShape("m.q_proj", 8, 6)], 2, 4, seed: 2);
        var e = Assert.Throws<IncompatibleAdaptersException>(() => new FloraStacking().Aggregate([a, b], [0.5, 0.5]));
        Assert.Contains("6x8", e.Message);
    }
}
