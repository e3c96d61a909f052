using static TorchSharp.torch;

namespace Federated.Core.Formats.Safetensors;

/// <summary>
/// The tensors of a safetensors file, in the order their data is stored, and its <c>__metadata__</c>.
/// Owns the tensors: disposing it disposes them, so a caller that keeps tensors must not dispose it.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    readonly Dictionary<string, Tensor> _byName;

    internal SafetensorsFile(IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
    }

    public IReadOnlyList<(string Name, Tensor Tensor)> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public Tensor this[string name] => _byName.TryGetValue(name, out var t)
        ? t : throw new KeyNotFoundException($"the file has no tensor '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);

    public void Dispose()
    {
        foreach (var (_, tensor) in Tensors) tensor.Dispose();
    }
}
