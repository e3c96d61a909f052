using System.Text;
using Federated.Training.Evaluation;

namespace Federated.Training.Tests.Evaluation;

public sealed class ByteNGramModelTests
{
    const string Corpus = "/usr/share/common-licenses/GPL-3";

    static ReadOnlyMemory<byte>[] Docs(params string[] texts) => texts.Select(t => (ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes(t)).ToArray();

    static byte B(char c) => (byte)c;

    /// <summary>The GPL's paragraphs (blank-line separated) as documents: every tenth held out.</summary>
    static (ReadOnlyMemory<byte>[] Train, ReadOnlyMemory<byte>[] HeldOut) Gpl()
    {
        var paragraphs = File.ReadAllText(Corpus).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(p => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(p)).ToArray();
        return (paragraphs.Where((_, i) => i % 10 != 0).ToArray(), paragraphs.Where((_, i) => i % 10 == 0).ToArray());
    }

    [Theory]
    [InlineData(1, "the ")]     // order 1 ignores the context
    [InlineData(3, "the ")]     // seen context
    [InlineData(3, "\u0001q")]  // unseen at every order above 1
    [InlineData(3, "")]
    [InlineData(5, "the ")]
    [InlineData(5, "of th")]    // longer than order - 1: only "f th" counts
    [InlineData(5, "zqxj")]
    [InlineData(5, "x")]        // shorter than order - 1: order 2 answers
    [InlineData(5, "")]
    public void Probabilities_over_all_256_next_bytes_sum_to_one(int order, string context)
    {
        var model = ByteNGramModel.Fit(order, Gpl().Train);
        var bytes = Encoding.ASCII.GetBytes(context);
        var p = Enumerable.Range(0, 256).Select(b => Math.Exp(model.LogProb(bytes, (byte)b))).ToArray();
        Assert.All(p, x => Assert.True(x > 0));
        Assert.Equal(1.0, p.Sum(), 1e-9);
    }

    [Fact]
    public void A_bigram_probability_on_abab_matches_the_hand_computed_value()
    {
        // "abab" at order 2. Bigram raw counts: ab 2, ba 1 -> n1 = 1, n2 = 1, D2 = 1 / (1 + 2) = 1/3.
        // Unigram continuation counts (distinct bytes, or the document start, right before it):
        //   a: {start, b} = 2, b: {a} = 1, total 3, T = 2, n1 = 1, n2 = 1 -> D1' = 1/3.
        //   p1(b) = (1 - 1/3 + (1/3) * 2 * (1/256)) / 3 = 2/9 + 1/1152
        // Context "a" is followed by b twice: c(a) = 2, T(a) = 1.
        //   p(b | a) = (2 - 1/3 + (1/3) * 1 * p1(b)) / 2 = 5/6 + (1/6) (2/9 + 1/1152)        = 0.870515...
        //   p(a | a) = (0     + (1/3) * 1 * p1(a)) / 2 = (1/6) (5/9 + 1/1152), p1(a) = (2 - 1/3 + 2/768) / 3
        var model = ByteNGramModel.Fit(2, Docs("abab"));
        Assert.Equal(5.0 / 6 + (2.0 / 9 + 1.0 / 1152) / 6, Math.Exp(model.LogProb("a"u8, B('b'))), 1e-14);
        Assert.Equal((5.0 / 9 + 1.0 / 1152) / 6, Math.Exp(model.LogProb("a"u8, B('a'))), 1e-14);
        // An empty context is answered by order 1 with raw counts: a 2, b 2, n1 = 0 -> D1 = 0.01 (the floor).
        Assert.Equal((2 - 0.01 + 0.01 * 2 / 256) / 4, Math.Exp(model.LogProb([], B('a'))), 1e-14);
    }

    [Fact]
    public void Probabilities_match_an_independent_python_implementation()
    {
        // Independent dict-based implementation, run with python3 on these documents:
        //   def fit(order, docs):
        //       raw = [defaultdict(int) for _ in range(order + 1)]; left = [defaultdict(set) for _ in range(order + 1)]
        //       for d in docs:
        //           for i in range(len(d)):
        //               for k in range(1, min(i + 1, order) + 1):
        //                   g = tuple(d[i - k + 1:i + 1]); raw[k][g] += 1
        //                   left[k][g].add(d[i - k] if i - k >= 0 else 'BOS')
        //       def disc(counts):
        //           n1 = sum(1 for c in counts if c == 1); n2 = sum(1 for c in counts if c == 2)
        //           return 0.01 if n1 == 0 else min(max(n1 / (n1 + 2 * n2), 0.01), 0.99)
        //       cont = [{g: len(s) for g, s in left[k].items()} for k in range(order + 1)]
        //       return raw, cont, [(disc(raw[k].values()), disc(cont[k].values())) for k in range(order + 1)]
        //   def prob(m, order, ctx, w):
        //       raw, cont, D = m
        //       ctx = tuple(ctx[len(ctx) - min(len(ctx), order - 1):]); top = len(ctx) + 1; p = 1 / 256
        //       for k in range(1, top + 1):
        //           h = ctx[len(ctx) - (k - 1):] if k > 1 else ()
        //           table, d = (raw[k], D[k][0]) if k == top else (cont[k], D[k][1])
        //           followers = {g[-1]: c for g, c in table.items() if g[:-1] == h}
        //           if not followers: continue
        //           total = sum(followers.values())
        //           p = (max(followers.get(w, 0) - d, 0) + d * len(followers) * p) / total
        //       return p
        // printing math.log(prob(...)) and the mean of -log prob over positions 1.. of each window.
        var docs = Docs("the cat sat on the mat", "the hat", "a cat ate the rat");
        var windows = Docs("that cat", "the sat hat");
        var expected = new Dictionary<int, double[]>
        {
            [3] = [-1.8726014365981063, -0.172619114826747, -1.4949059286715254, -1.3177356116280357, -0.2199704132890267, 0.9588710782966549],
            [5] = [-1.706238262688911, -0.172619114826747, -1.4949059286715254, -1.3177356116280357, -0.16761314134528507, 1.0143141775722528],
        };
        foreach (var (order, values) in expected)
        {
            var model = ByteNGramModel.Fit(order, docs);
            Assert.Equal(values[0], model.LogProb("the "u8, B('c')), 1e-12);
            Assert.Equal(values[1], model.LogProb("th"u8, B('e')), 1e-12);
            Assert.Equal(values[2], model.LogProb([], B('t')), 1e-12);
            Assert.Equal(values[3], model.LogProb("zq"u8, B('a')), 1e-12);
            Assert.Equal(values[4], model.LogProb("a c"u8, B('a')), 1e-12);
            var score = model.NatsPerByte(windows);
            Assert.Equal(values[5], score.NatsPerByte, 1e-12);
            Assert.Equal(17, score.PredictedBytes);
        }
    }

    [Fact]
    public void Higher_orders_score_lower_nats_per_byte_on_held_out_text()
    {
        var (train, heldOut) = Gpl();
        var nats = new[] { 1, 2, 3, 5 }.Select(order => ByteNGramModel.Fit(order, train).NatsPerByte(heldOut)).ToArray();
        for (int i = 1; i < nats.Length; i++)
            Assert.True(nats[i].NatsPerByte < nats[i - 1].NatsPerByte - 0.05, $"orders 1, 2, 3, 5: {string.Join(", ", nats.Select(x => x.NatsPerByte.ToString("F3")))} nats/byte");
        // The python implementation quoted above (prob's scan of the table replaced by a per-context index, for speed),
        // on the same split: GPL-3's paragraphs, every tenth held out.
        double[] python = [3.0980169904390262, 2.4486995490932384, 1.7921555369663926, 1.3315034769868213];
        for (int i = 0; i < nats.Length; i++)
        {
            Assert.Equal(python[i], nats[i].NatsPerByte, 1e-12);
            Assert.Equal(3745, nats[i].PredictedBytes);
        }
    }

    [Fact]
    public void Contexts_do_not_cross_document_boundaries()
    {
        var apart = ByteNGramModel.Fit(2, Docs("ab", "cd"));
        var joined = ByteNGramModel.Fit(2, Docs("abcd"));
        // Apart, "b" is never followed by anything, so p(c | b) is order 1's continuation estimate alone, the same as
        // with an empty context that order 1 must answer from continuation counts: that is, p(c | z) for an unseen z.
        Assert.Equal(apart.LogProb("z"u8, B('c')), apart.LogProb("b"u8, B('c')), 1e-15);
        // Had "bc" been counted across the boundary, b would have a follower and c its raw share, as in the joined text.
        Assert.NotEqual(joined.LogProb("z"u8, B('c')), joined.LogProb("b"u8, B('c')), 1e-6);
        Assert.True(joined.LogProb("b"u8, B('c')) > apart.LogProb("b"u8, B('c')) + 0.5);
    }

    [Fact]
    public void A_document_start_counts_as_one_left_extension()
    {
        // "ab", "ab": a only ever starts a document, b only follows a. Continuation counts: a 1 (start), b 1 (a), so
        // with an unseen context the two are equally likely; were the start not counted, a would get only the
        // uniform share.
        var model = ByteNGramModel.Fit(2, Docs("ab", "ab"));
        Assert.Equal(model.LogProb("z"u8, B('a')), model.LogProb("z"u8, B('b')), 1e-15);
    }

    [Fact]
    public void NatsPerByte_predicts_every_byte_of_a_window_but_its_first_from_that_window_alone()
    {
        var model = ByteNGramModel.Fit(3, Gpl().Train);
        var score = model.NatsPerByte(Docs("the", "e ", "x"));
        double expected = -(model.LogProb("t"u8, B('h')) + model.LogProb("th"u8, B('e')) + model.LogProb("e"u8, B(' '))) / 3;
        Assert.Equal(3, score.PredictedBytes);
        Assert.Equal(expected, score.NatsPerByte, 1e-12);
        // Were the second window's space predicted from "he" carried over from the first window, it would differ.
        Assert.NotEqual(model.LogProb("he"u8, B(' ')), model.LogProb("e"u8, B(' ')), 1e-6);
    }

    [Fact]
    public void Counting_in_many_small_chunks_gives_the_same_model_as_counting_at_once()
    {
        var (train, heldOut) = Gpl();
        var atOnce = ByteNGramModel.Fit(4, train);
        var chunked = ByteNGramModel.Fit(4, train, chunkKeys: 1000); // 31 KB of text: dozens of merges
        Assert.Equal(atOnce.Grams, chunked.Grams);
        Assert.Equal(atOnce.NatsPerByte(heldOut), chunked.NatsPerByte(heldOut));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void An_order_outside_one_to_six_is_refused(int order) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ByteNGramModel.Fit(order, Docs("abc")));

    [Fact]
    public void Fitting_on_no_bytes_or_scoring_no_predicted_byte_is_refused()
    {
        Assert.Contains("no bytes", Assert.Throws<ArgumentException>(() => ByteNGramModel.Fit(3, Docs("", ""))).Message);
        var model = ByteNGramModel.Fit(3, Docs("abc"));
        Assert.Contains("no byte to predict", Assert.Throws<ArgumentException>(() => model.NatsPerByte(Docs("a", ""))).Message);
    }
}
