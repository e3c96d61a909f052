using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Tests.Formats;

namespace Federated.Core.Tests.Compression;

public class Int8QuantizerTests
{
    [Fact]
    public void Round_to_nearest_errs_by_at_most_half_a_scale_per_row()
    {
        using var adapter = SmallAdapters.Create(seed: 1);
        using var quantizer = Int8Quantizer.RoundToNearest();
        using var compressed = quantizer.Compress(adapter);

        foreach (var (m, c) in adapter.Modules.Zip(compressed.Modules))
        {
            foreach (var (x, q) in new[] { (m.A, (Int8Tensor)c.A), (m.B, (Int8Tensor)c.B) })
            {
                using var scope = NewDisposeScope();
                var scales = q.Scales.to(float64);
                var error = (q.Decompress().to(float64) - x.to(float64)).abs().amax(1);
                // Exactly scale / 2 in real arithmetic; the float32 division and product add a few ulps of 127 * scale.
                Assert.True((error <= scales * (0.5 * (1 + 4e-5))).all().item<bool>(), $"{m.Name}: a row errs by more than scale / 2");
                // scale = max|x| / 127, so every row's largest entry maps to +-127.
                TensorAssert.Close(scales, x.abs().amax(1).to(float64) / 127, 1e-6);
                Assert.Equal(127, q.Quantized.to(int32).abs().amax(1).min().item<int>());
            }
        }
    }

    [Fact]
    public void Zero_row_gets_scale_zero_and_decompresses_to_zeros()
    {
        var a = rand(8, 64) - 0.5;
        a[3] = zeros(64);
        using var adapter = new LoraAdapter([new LoraModule("layer.q_proj", a, randn(16, 8), alpha: 16)]);
        using var quantizer = Int8Quantizer.RoundToNearest();
        using var compressed = quantizer.Compress(adapter);

        var q = (Int8Tensor)compressed.Modules[0].A;
        using var decompressed = q.Decompress();
        Assert.Equal(0f, q.Scales[3].item<float>());
        Assert.True(q.Quantized[3].eq(0).all().item<bool>());
        Assert.True(decompressed[3].eq(0).all().item<bool>());
        Assert.True(decompressed.isfinite().all().item<bool>());
    }

    [Fact]
    public void Stochastic_rounding_is_unbiased_over_many_seeds()
    {
        const int Seeds = 400;
        using var adapter = SmallAdapters.Create(seed: 2);
        var originals = SmallAdapters.Factors(adapter).ToList();
        var sums = originals.Select(f => zeros(f.Factor.shape, float64)).ToList();
        var scales = new Tensor?[originals.Count]; // max|x| / 127: the same for every seed
        for (var seed = 0; seed < Seeds; seed++)
        {
            using var quantizer = Int8Quantizer.Stochastic(seed);
            using var compressed = quantizer.Compress(adapter);
            var factors = compressed.Modules.SelectMany(m => new[] { (Int8Tensor)m.A, (Int8Tensor)m.B }).ToList();
            for (var i = 0; i < factors.Count; i++)
            {
                using var d = factors[i].Decompress();
                sums[i].add_(d.to(float64));
                scales[i] ??= factors[i].Scales.to(float64);
            }
        }

        for (var i = 0; i < originals.Count; i++)
        {
            using var scope = NewDisposeScope();
            var (name, x) = originals[i];
            // Error of the mean in units of the row's scale; one draw errs by < 1 scale, with std <= 1/2.
            var bias = (sums[i] / Seeds - x.to(float64)) / scales[i]!.unsqueeze(1);
            var worst = bias.abs().max().item<double>();
            var mean = bias.mean().item<double>();
            // Per entry: 6 standard errors of the mean (0.5 / sqrt(400) = 0.025).
            Assert.True(worst < 0.15, $"{name}: an entry's mean is off by {worst:F3} scales");
            // Over the factor: biased rounding (truncation would average -0.5) stands out at once.
            Assert.True(Math.Abs(mean) < 0.01, $"{name}: the mean bias is {mean:F4} scales");
        }
        foreach (var t in sums.Concat(scales)) t?.Dispose();
    }

    [Fact]
    public void Stochastic_rounding_picks_a_neighbouring_level_and_repeats_with_the_seed()
    {
        using var adapter = SmallAdapters.Create(seed: 3);
        using var first = Int8Quantizer.Stochastic(7);
        using var second = Int8Quantizer.Stochastic(7);
        using var x = first.Compress(adapter);
        using var y = second.Compress(adapter);

        foreach (var (m, (cx, cy)) in adapter.Modules.Zip(x.Modules.Zip(y.Modules)))
        {
            using var scope = NewDisposeScope();
            var q = (Int8Tensor)cx.A;
            TensorBytes.AssertIdentical(q.Quantized, ((Int8Tensor)cy.A).Quantized);
            var error = (q.Decompress().to(float64) - m.A.to(float64)).abs();
            Assert.True((error < q.Scales.to(float64).unsqueeze(1) * (1 + 1e-5)).all().item<bool>());
        }
    }
}
