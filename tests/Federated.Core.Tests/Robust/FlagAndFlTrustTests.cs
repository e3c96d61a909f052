using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Robust;

namespace Federated.Core.Tests.Robust;

public sealed class FlagAndFlTrustTests : IDisposable
{
    readonly List<LoraAdapter> _updates;
    readonly Tensor _x;
    readonly double[] _p;

    public FlagAndFlTrustTests()
    {
        _updates = DenseUpdates.Honest([4, 8, 2, 4, 8, 16], noise: 0.7, seed: 41);
        _updates.Add(DenseUpdates.Reversed(_updates[2], 5));
        _x = DenseUpdates.Flatten(_updates);
        _p = ClientWeights.Equal(_updates.Count);
    }

    public void Dispose()
    {
        foreach (var u in _updates) u.Dispose();
        _x.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Flag_matches_dense_irls_on_unit_updates(int m)
    {
        // The flag median's IRLS with explicit d-dimensional subspaces from SVDs of the weighted updates.
        using var scope = NewDisposeScope();
        var norms = _x.pow(2).sum([1]).sqrt(); // sum(int) would bind to the ScalarType overload
        var unit = _x / norms.unsqueeze(1);
        Tensor Subspace(Tensor w)
        {
            var (u, _, _) = linalg.svd((w.unsqueeze(1) * unit).t(), fullMatrices: false);
            return u.narrow(1, 0, m);
        }
        var w = ones(_updates.Count, float64);
        for (int it = 0; it < 10; it++)
        {
            var y = Subspace(w);
            var projected = unit.matmul(y).pow(2).sum([1]);
            w = ((1 - projected).abs() + 1e-7).pow(-0.25);
        }
        var basis = Subspace(w);
        var direction = unit.matmul(basis).matmul(basis.t()).sum([0]) / m;
        double median = norms.data<double>().ToArray().Order().ElementAt(_updates.Count / 2);
        var expected = direction * (median / direction.norm().item<double>());

        var gamma = new FlagAggregator(subspaceDimension: m).Weigh(UpdateGram.Compute(_updates, ScalarType.Float64), _p);
        TensorAssert.Close(DenseUpdates.Combine(_x, gamma), expected, 1e-6);
    }

    [Fact]
    public void FlTrust_matches_the_dense_trust_weighted_rescaled_mean()
    {
        using var root = DenseUpdates.Honest([4], noise: 0.1, seed: 41)[0];
        using var g0 = DenseUpdates.Flatten([root])[0];
        double rootNorm = g0.norm().item<double>();
        var trust = Enumerable.Range(0, _updates.Count).Select(i =>
            Math.Max(0, _x[i].dot(g0).item<double>() / (_x[i].norm().item<double>() * rootNorm))).ToArray();
        using var expected = Enumerable.Range(0, _updates.Count)
            .Select(i => _x[i] * (trust[i] * rootNorm / _x[i].norm().item<double>() / trust.Sum()))
            .Aggregate((a, b) => a + b);

        var rule = new FlTrust(root);
        using var result = new Aggregator(rule: rule).Aggregate(_updates.Select((u, k) => new ClientUpdate($"c{k}", u)).ToList());
        Assert.Equal(0, result.Report.Clients[6].Coefficient); // the reversed update points away from the root
        using var actual = DenseUpdates.Flatten([result.Global]);
        TensorAssert.Close(actual[0], expected, 1e-5);
    }

    [Fact]
    public void Flag_is_sign_blind_as_documented()
    {
        // A flipped update spans the same line as the original: Flag does not down-weight it.
        var gram = UpdateGram.Compute(_updates, ScalarType.Float64);
        var gamma = new FlagAggregator().Weigh(gram, _p);
        Assert.NotEqual(0, gamma[6]);
    }
}
