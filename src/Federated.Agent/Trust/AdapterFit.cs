using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Federation;
using Federated.Core.Formats;

namespace Federated.Agent.Trust;

/// <summary>
/// A downloaded adapter's header against the local model, before any of its tensors is allocated: a plain payload
/// (the coordinator sends nothing else: a compressed one would be expanded to its declared shapes, whatever its size)
/// whose modules are exactly the local target layers with their dimensions.
/// </summary>
public static class AdapterFit
{
    /// <param name="role">"history delta", "init adapter": names the adapter in the refusal.</param>
    /// <param name="layers">The local target layers (<see cref="AcceptedTask.Layers"/>).</param>
    /// <exception cref="CoordinatorInputException">The header is malformed, compressed, or does not fit the layers.</exception>
    public static void Check(string path, AdapterReference adapter, string role, string baseModel, IReadOnlyList<ModuleShape> layers)
    {
        string source = $"{role} {adapter.Sha256[..12]}";
        AdapterDescription description;
        try
        {
            using var file = File.OpenRead(path);
            description = AdapterPayload.Describe(file, source);
        }
        catch (AdapterFormatException e)
        {
            throw new CoordinatorInputException($"{source} is refused: {CoordinatorText.Preview(e.Message, 512)}");
        }
        if (description.Compression is { } scheme)
            throw new CoordinatorInputException($"{source} is refused: it is a compressed ({CompressionSchemes.Name(scheme)}) payload; the coordinator sends only plain ones, and expanding it would allocate whatever shapes it declares");
        var targets = layers.Select(l => l.Name[(l.Name.LastIndexOf('.') + 1)..]).Distinct().ToList();
        // The rank is bounded by the payload's size (the header's offsets tile its bytes exactly), which was bounded before download.
        var rules = new AdmissionRules(baseModel, targets, layers, AssignedRank: int.MaxValue);
        if (UpdateAdmission.Check(description, declaredRank: null, rules) is { } refusal)
            throw new CoordinatorInputException($"{source} is refused: it does not fit the local model: {CoordinatorText.Preview(refusal.Message, 512)}");
    }
}
