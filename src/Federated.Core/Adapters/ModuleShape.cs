namespace Federated.Core.Adapters;

/// <summary>A base linear layer a LoRA module attaches to: its HF module path and dimensions.</summary>
public sealed record ModuleShape(string Name, int InFeatures, int OutFeatures)
{
    static readonly string[] Attention = ["q_proj", "k_proj", "v_proj", "o_proj"];

    /// <summary>
    /// The linear layers of a Llama-family decoder (Llama, Qwen2, Mistral) selected by PEFT target names.
    /// k_proj and v_proj project to <paramref name="kvDim"/> (grouped-query attention).
    /// </summary>
    public static IReadOnlyList<ModuleShape> LlamaFamily(int hidden, int layers, IEnumerable<string> targets, int? kvDim = null, int? intermediate = null)
    {
        int kv = kvDim ?? hidden, mlp = intermediate ?? 4 * hidden;
        var wanted = targets.ToHashSet(StringComparer.Ordinal);
        var unknown = wanted.Except(Attention.Concat(["gate_proj", "up_proj", "down_proj"])).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown target module(s) {string.Join(", ", unknown)} (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
        var shapes = new List<ModuleShape>();
        for (int layer = 0; layer < layers; layer++)
        {
            void Add(string block, string name, int inF, int outF)
            {
                if (wanted.Contains(name)) shapes.Add(new($"model.layers.{layer}.{block}.{name}", inF, outF));
            }
            Add("self_attn", "q_proj", hidden, hidden);
            Add("self_attn", "k_proj", hidden, kv);
            Add("self_attn", "v_proj", hidden, kv);
            Add("self_attn", "o_proj", hidden, hidden);
            Add("mlp", "gate_proj", hidden, mlp);
            Add("mlp", "up_proj", hidden, mlp);
            Add("mlp", "down_proj", mlp, hidden);
        }
        return shapes;
    }
}
