using Federated.Training.Models;
using Federated.Training.Tokenization;

namespace Federated.Testing;

/// <summary>Real inputs for agents: a tiny Llama checkpoint (as `fed model init --preset tiny` writes it) and text slices.</summary>
public static class TestFiles
{
    /// <summary>Writes the tiny preset with its byte-level tokenizer into <paramref name="directory"/>.</summary>
    public static string TinyModel(string directory, long seed = 0)
    {
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed);
        HfCheckpoint.Save(model, directory);
        ByteLevelTokenizer.Instance.Save(directory);
        return directory;
    }

    /// <summary>A plain-text slice of a file shipped with every Debian system (license texts), different per agent.</summary>
    public static string TextSlice(string path, string source, int offset, int length)
    {
        string text = File.ReadAllText(Path.Combine("/usr/share/common-licenses", source));
        File.WriteAllText(path, text.Substring(Math.Min(offset, text.Length - length), length));
        return path;
    }
}
