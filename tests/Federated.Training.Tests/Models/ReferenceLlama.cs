namespace Federated.Training.Tests.Models;

/// <summary>
/// A straightforward Llama forward pass written from the equations, reading raw tensors by HF name:
/// per-pair rotary rotation, explicit masked softmax attention, key/value heads shared by index. It
/// shares no code with the model, so agreement checks the architecture.
/// </summary>
static class ReferenceLlama
{
    public static Tensor Logits(IReadOnlyDictionary<string, Tensor> w, Federated.Training.Models.LlamaConfig c, long[] tokens)
    {
        using var scope = NewDisposeScope();
        int t = tokens.Length, d = c.HeadDim, heads = c.NumAttentionHeads, kvHeads = c.KeyValueHeads;
        Tensor Norm(Tensor x, string name) => x / (x.pow(2).mean([-1], keepdim: true) + c.RmsNormEps).sqrt() * w[name].to(float64);
        Tensor Lin(Tensor x, string name) => x.matmul(w[name + ".weight"].to(float64).t()) + (w.TryGetValue(name + ".bias", out var b) ? b.to(float64) : 0.0);

        var h = w["model.embed_tokens.weight"].to(float64).index_select(0, tensor(tokens));
        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            string p = $"model.layers.{layer}.";
            var x = Norm(h, p + "input_layernorm.weight");
            var q = Lin(x, p + "self_attn.q_proj").view(t, heads, d);
            var k = Lin(x, p + "self_attn.k_proj").view(t, kvHeads, d);
            var v = Lin(x, p + "self_attn.v_proj").view(t, kvHeads, d);
            q = Rotate(q, c.RopeTheta);
            k = Rotate(k, c.RopeTheta);
            var outputs = new List<Tensor>();
            for (int head = 0; head < heads; head++)
            {
                int kv = head / (heads / kvHeads);
                var scores = q.select(1, head).matmul(k.select(1, kv).t()) / Math.Sqrt(d);
                var mask = ones(t, t, dtype: ScalarType.Bool).triu(1);
                scores = scores.masked_fill(mask, double.NegativeInfinity);
                outputs.Add(scores.softmax(-1).matmul(v.select(1, kv)));
            }
            h = h + Lin(cat(outputs, -1), p + "self_attn.o_proj");
            var y = Norm(h, p + "post_attention_layernorm.weight");
            var gate = Lin(y, p + "mlp.gate_proj");
            h = h + Lin(gate * gate.sigmoid() * Lin(y, p + "mlp.up_proj"), p + "mlp.down_proj");
        }
        h = Norm(h, "model.norm.weight");
        var head_ = w.TryGetValue("lm_head.weight", out var lm) ? lm : w["model.embed_tokens.weight"];
        return h.matmul(head_.to(float64).t()).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates each pair (i, i + d/2) of every head at position pos by pos * theta^(-2i/d).</summary>
    static Tensor Rotate(Tensor x, double theta)
    {
        long t = x.size(0), d = x.size(2), half = d / 2;
        var result = x.clone();
        for (long pos = 0; pos < t; pos++)
            for (long i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(theta, -2.0 * i / d);
                var a = x[pos, .., i];
                var b = x[pos, .., i + half];
                result[pos, .., i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                result[pos, .., i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
        return result;
    }
}
