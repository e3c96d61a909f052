using System.Text;

namespace Federated.Contracts;

/// <summary>How grains that belong to a federation are keyed.</summary>
public static class GrainKeys
{
    /// <summary>Roster shards per federation: registrations spread over them, so no single grain holds or rewrites the whole roster.</summary>
    public const int RosterShards = 16;

    public static string Round(string federationId, int round) => $"{federationId}/{round}";

    public static string Roster(string federationId, int shard) => $"{federationId}/{shard}";

    /// <summary>A stable shard (FNV-1a of the UTF-8 id): the same client lands on the same shard on every silo and run.</summary>
    public static int RosterShardOf(string clientId)
    {
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(clientId))
            hash = (hash ^ b) * 16777619;
        return (int)(hash % RosterShards);
    }

    /// <summary>Federation ids appear in grain keys, store keys and URLs: letters, digits, '-', '_' and '.', 1 to 64 of them.</summary>
    public static bool IsValidId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
