using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Tests.Formats;

namespace Federated.Core.Tests.Compression;

public class TopKTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.25)]
    public void Top_k_keeps_exactly_k_entries_and_they_are_the_largest_magnitudes(double fraction)
    {
        using var adapter = SmallAdapters.Create(seed: 4);
        using var compressed = new TopKSparsifier(fraction).Compress(adapter);

        var sparse = compressed.Modules.SelectMany(m => new[] { (SparseTensor)m.A, (SparseTensor)m.B });
        foreach (var ((name, x), s) in SmallAdapters.Factors(adapter).Zip(sparse))
        {
            using var scope = NewDisposeScope();
            var k = (long)Math.Ceiling(fraction * x.numel());
            var dense = s.Decompress();
            var kept = dense.ne(0);
            Assert.Equal(k, s.KeptCount);
            Assert.Equal(k, kept.sum().item<long>());
            // Kept entries are sent unchanged; the smallest kept magnitude is at least the largest dropped one.
            TensorBytes.AssertIdentical(x.masked_select(kept), dense.masked_select(kept));
            var smallestKept = x.abs().masked_select(kept).min().item<float>();
            var largestDropped = x.abs().masked_select(kept.logical_not()).max().item<float>();
            Assert.True(smallestKept >= largestDropped, $"{name}: kept {smallestKept} but dropped {largestDropped}");
        }
    }

    [Theory]
    [InlineData(0.3, 10, 3)]
    [InlineData(0.1, 512, 52)]
    [InlineData(1e-9, 512, 1)]
    [InlineData(1.0, 7, 7)]
    public void Kept_count_is_the_ceiling_of_fraction_times_size_without_float_noise(double fraction, long count, long expected) =>
        Assert.Equal(expected, TopKSelection.KeptCount(fraction, count));

    [Fact]
    public void Error_feedback_at_fraction_one_is_lossless_every_round()
    {
        using var feedback = new TopKErrorFeedback(1.0);
        for (var round = 0; round < 3; round++)
        {
            using var update = SmallAdapters.Create(seed: 10 + round);
            using var compressed = feedback.Compress(update);
            using var decompressed = compressed.Decompress();
            foreach (var (m, d) in update.Modules.Zip(decompressed.Modules))
            {
                TensorBytes.AssertIdentical(m.A, d.A);
                TensorBytes.AssertIdentical(m.B, d.B);
            }
        }
    }

    [Fact]
    public void Error_feedback_sends_everything_eventually_with_a_bounded_residual()
    {
        const double Fraction = 0.1;
        const int Rounds = 200;
        using var update = SmallAdapters.Create(seed: 5);
        using var feedback = new TopKErrorFeedback(Fraction);
        using var stateless = new TopKSparsifier(Fraction).Compress(update);
        using var once = stateless.Decompress();

        var factors = SmallAdapters.Factors(update).ToList();
        var sent = factors.Select(f => zeros(f.Factor.shape, float64)).ToList();
        // Top-k keeps at least k/n of ||u||^2, so ||e|| <= q / (1 - q) ||d|| with q = sqrt(1 - k/n).
        var q = Math.Sqrt(1 - Fraction);
        var bound = q / (1 - q);
        for (var round = 1; round <= Rounds; round++)
        {
            using var compressed = feedback.Compress(update);
            using var decompressed = compressed.Decompress();
            var parts = SmallAdapters.Factors(decompressed).ToList();
            for (var i = 0; i < factors.Count; i++)
            {
                using var scope = NewDisposeScope();
                sent[i].add_(parts[i].Factor.to(float64));
                var d = factors[i].Factor.to(float64);
                // What has not been sent yet is exactly the residual e.
                var residual = (d * round - sent[i]).norm().item<double>();
                var norm = d.norm().item<double>();
                Assert.True(residual <= bound * norm * (1 + 1e-4),
                    $"{factors[i].Name}, round {round}: residual {residual:G4} exceeds {bound:F1} ||d|| = {bound * norm:G4}");
            }
        }

        // Without feedback the same k entries are sent every round and the error grows linearly.
        var statelessFactors = SmallAdapters.Factors(once).ToList();
        for (var i = 0; i < factors.Count; i++)
        {
            using var scope = NewDisposeScope();
            var total = factors[i].Factor.to(float64) * Rounds;
            var withFeedback = TensorAssert.RelativeError(sent[i], total);
            var without = TensorAssert.RelativeError(statelessFactors[i].Factor.to(float64) * Rounds, total);
            Assert.True(withFeedback < 0.1, $"{factors[i].Name}: sum of sent is {withFeedback:P1} off the sum of updates");
            Assert.True(without > 5 * withFeedback, $"{factors[i].Name}: {without:P1} without feedback vs {withFeedback:P1} with");
        }
        foreach (var t in sent) t.Dispose();
    }

    [Fact]
    public void Error_feedback_rejects_a_factor_that_changed_shape_until_reset()
    {
        using var feedback = new TopKErrorFeedback(0.5);
        using var first = SmallAdapters.Create(seed: 6);
        using var other = RandomAdapters.Create(SmallAdapters.Shapes, rank: 4, alpha: 16, seed: 7);
        feedback.Compress(first).Dispose();

        Assert.Throws<AdapterShapeException>(() => feedback.Compress(other));
        feedback.Reset();
        feedback.Compress(other).Dispose();
    }

    [Fact]
    public void Compression_rejects_non_finite_factors_before_touching_state()
    {
        using var feedback = new TopKErrorFeedback(1.0);
        var bad = ones(8, 64);
        bad[0, 0] = tensor(float.NaN);
        using var adapter = new LoraAdapter([new LoraModule("layer.q_proj", bad, ones(16, 8), alpha: 8)]);

        var e = Assert.Throws<ArgumentException>(() => feedback.Compress(adapter));
        Assert.Contains("layer.q_proj.lora_A", e.Message);
    }
}
