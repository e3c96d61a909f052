using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Core.Compression;

/// <summary>
/// Compresses a client's upload factor by factor. For LoRA the upload's factors themselves are what is
/// compressed, not a difference from an initialisation: B starts at 0 so B is its own update, and A's
/// initialisation is not shared with the coordinator here.
/// </summary>
public abstract class AdapterCompressor
{
    public abstract CompressionScheme Scheme { get; }

    /// <exception cref="ArgumentException">A factor is empty or holds NaN or infinity.</exception>
    public CompressedAdapter Compress(LoraAdapter adapter)
    {
        // Checked up front so that a stateful compressor never advances on part of an adapter.
        foreach (var m in adapter.Modules)
        {
            CheckFactor($"{m.Name}.lora_A", m.A);
            CheckFactor($"{m.Name}.lora_B", m.B);
        }
        var modules = new List<CompressedModule>(adapter.Modules.Count);
        try
        {
            foreach (var m in adapter.Modules)
            {
                var a = CompressOne($"{m.Name}.lora_A", m.A);
                try
                {
                    modules.Add(new CompressedModule(m.Name, a, CompressOne($"{m.Name}.lora_B", m.B), m.Alpha, m.UseRsLora));
                }
                catch
                {
                    a.Dispose();
                    throw;
                }
            }
            return new CompressedAdapter(Scheme, modules, adapter.BaseModel);
        }
        catch
        {
            foreach (var m in modules) m.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Compresses one factor, given as a float32 contiguous CPU matrix. Runs inside a dispose scope:
    /// temporaries need no care, and the returned payloads are moved out of it.
    /// </summary>
    /// <param name="key">Identifies the factor across calls, e.g. <c>model.layers.0.self_attn.q_proj.lora_A</c>.</param>
    protected abstract CompressedTensor CompressFactor(string key, Tensor factor);

    CompressedTensor CompressOne(string key, Tensor factor)
    {
        using var scope = NewDisposeScope();
        var x = factor.detach().to(float32).cpu().contiguous();
        var compressed = CompressFactor(key, x);
        compressed.MoveToOuterDisposeScope();
        return compressed;
    }

    static void CheckFactor(string key, Tensor factor)
    {
        if (factor.numel() == 0)
            throw new ArgumentException($"{key} is empty");
        using var scope = NewDisposeScope();
        if (!factor.isfinite().all().item<bool>())
            throw new ArgumentException($"{key} holds NaN or infinite entries");
    }
}
