using System.Text.Json;
using System.Text.Json.Serialization;
using Federated.IO;

namespace Federated.Agent.State;

/// <summary>The state directory's JSON files, each replaced durably (<see cref="DurableFile"/>): a crash leaves the old file or the new one, never a mix.</summary>
public static class AgentStateFile
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <param name="ownerOnly">Create the file readable by its owner only (0600): it holds a secret.</param>
    public static void WriteJson<T>(string path, T value, bool ownerOnly = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        DurableFile.WriteBytes(path, JsonSerializer.SerializeToUtf8Bytes(value, Json), ownerOnly);
    }

    /// <returns>The value, or default when the file does not exist.</returns>
    /// <exception cref="AgentStateException">The file exists but is not what this agent wrote.</exception>
    public static T? ReadJson<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), Json)
                ?? throw new AgentStateException($"{path}: empty state file; move it away to start over");
        }
        catch (JsonException e)
        {
            throw new AgentStateException($"{path}: unreadable state ({e.Message}); move it away to start over");
        }
    }
}

/// <summary>The state directory holds something the agent cannot use.</summary>
public sealed class AgentStateException(string message) : Exception(message);
