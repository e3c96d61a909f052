using System.Text.Json;
using System.Text.Json.Serialization;

namespace Federated.Agent.State;

/// <summary>
/// Whole-file replacement that a crash cannot tear: write a temporary file beside the target, flush it to disk,
/// then rename it over the target (atomic on POSIX). A reader sees the old file or the new one, never a mix.
/// </summary>
public static class AtomicFile
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <param name="ownerOnly">Create the file readable by its owner only (0600): it holds a secret.</param>
    public static void WriteJson<T>(string path, T value, bool ownerOnly = false) =>
        Write(path, JsonSerializer.SerializeToUtf8Bytes(value, Json), ownerOnly);

    public static void Write(string path, ReadOnlySpan<byte> content, bool ownerOnly = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (ownerOnly && !OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
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
