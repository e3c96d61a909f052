using Federated.Training.Models;

namespace Federated.Coordinator.Tests.Api;

/// <summary>An HF model directory holding only a config.json: what <c>fed federation create --base-model-dir</c> reads to pin the base's shapes.</summary>
public static class BaseModelDirectory
{
    /// <summary>The tiny preset: hidden 64, 2 layers, 4 heads of which 2 key/value heads.</summary>
    public static string Tiny(string parent) => Write(Path.Combine(parent, "tiny-base"), LlamaConfig.Preset("tiny"));

    /// <summary>Hidden 32, 2 layers, 4 heads and as many key/value heads: the base of <c>ModuleShape.LlamaFamily(32, 2, ...)</c>.</summary>
    public static string Width32(string parent) => Write(Path.Combine(parent, "width32-base"),
        LlamaConfig.Preset("tiny") with { HiddenSize = 32, NumAttentionHeads = 4, NumKeyValueHeads = 4, IntermediateSize = 64 });

    static string Write(string directory, LlamaConfig config)
    {
        Directory.CreateDirectory(directory);
        config.Write(Path.Combine(directory, "config.json"));
        return directory;
    }
}
