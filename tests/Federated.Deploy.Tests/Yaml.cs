using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>Small read-only helpers over YamlDotNet's node model (mappings, sequences, scalars).</summary>
public static class Yaml
{
    /// <summary>Every non-empty document of a multi-document stream.</summary>
    public static List<YamlMappingNode> Documents(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
    }

    public static YamlNode? Get(this YamlNode? node, params string[] path)
    {
        foreach (string key in path)
        {
            if (node is not YamlMappingNode map || !Merged(map).TryGetValue(key, out node))
                return null;
        }
        return node;
    }

    /// <summary>A mapping's entries with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied; its own keys win.</summary>
    public static Dictionary<string, YamlNode> Merged(YamlMappingNode map)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var merge = new YamlScalarNode("<<");
        if (map.Children.TryGetValue(merge, out var bases))
        {
            var sources = bases is YamlSequenceNode seq ? seq.Children.OfType<YamlMappingNode>() : bases is YamlMappingNode one ? [one] : [];
            foreach (var source in sources)
                foreach (var (k, v) in Merged(source))
                    result.TryAdd(k, v);
        }
        foreach (var (k, v) in map.Children)
            if (!k.Equals(merge))
                result[((YamlScalarNode)k).Value!] = v;
        return result;
    }

    public static string? Str(this YamlNode? node, params string[] path) => (node.Get(path) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Items(this YamlNode? node, params string[] path) =>
        node.Get(path) is YamlSequenceNode seq ? seq.Children : [];

    public static IEnumerable<KeyValuePair<string, YamlNode>> Entries(this YamlNode? node, params string[] path) =>
        node.Get(path) is YamlMappingNode map ? Merged(map) : [];

    public static string Kind(this YamlNode doc) => doc.Str("kind") ?? "";
    public static string Name(this YamlNode doc) => doc.Str("metadata", "name") ?? "";
}
