using Federated.Agent.Trust;

namespace Federated.Agent.State;

/// <summary>
/// The agent's state directory: <c>client.json</c> (identity and credential, mode 0600), <c>round.json</c> (the
/// current round's progress), <c>adapters/</c> (downloaded global adapters, partial downloads end in <c>.partial</c>) and <c>updates/</c>
/// (trained update payloads), <c>training/</c> (the checkpoint of the round being trained). Every JSON file is replaced
/// atomically.
/// </summary>
public sealed class AgentStateStore
{
    public AgentStateStore(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }
    string IdentityPath => Path.Combine(Directory, "client.json");
    string ProgressPath => Path.Combine(Directory, "round.json");

    public static bool HasIdentity(string directory) => File.Exists(Path.Combine(directory, "client.json"));

    public ClientIdentity? LoadIdentity() => AgentStateFile.ReadJson<ClientIdentity>(IdentityPath);
    public void SaveIdentity(ClientIdentity identity) => AgentStateFile.WriteJson(IdentityPath, identity, ownerOnly: true);
    public void ForgetIdentity() => File.Delete(IdentityPath);

    public RoundProgress? LoadProgress() => AgentStateFile.ReadJson<RoundProgress>(ProgressPath);
    public void SaveProgress(RoundProgress progress) => AgentStateFile.WriteJson(ProgressPath, progress);

    /// <exception cref="ArgumentException">Not a lowercase hex SHA-256: anything else could name a path outside the directory.</exception>
    public string AdapterPath(string sha256) => AdapterReference.IsSha256(sha256)
        ? Path.Combine(Directory, "adapters", sha256 + ".safetensors")
        : throw new ArgumentException($"'{CoordinatorText.Preview(sha256)}' is not a SHA-256 (64 lowercase hex digits)", nameof(sha256));
    public string PartialAdapterPath(string sha256) => AdapterPath(sha256) + ".partial";

    public string UpdatePath(string federationId, int round) =>
        Path.Combine(Directory, "updates", RoundFileName(federationId, round) + ".safetensors");

    /// <summary>Local training's checkpoint for the round (its directory is created).</summary>
    public string CheckpointPath(string federationId, int round)
    {
        string directory = Path.Combine(Directory, "training");
        System.IO.Directory.CreateDirectory(directory);
        return Path.Combine(directory, RoundFileName(federationId, round) + ".ckpt");
    }

    /// <summary>Once a round's update is saved its training is done: no checkpoint is kept.</summary>
    public void DeleteCheckpoints()
    {
        string directory = Path.Combine(Directory, "training");
        if (System.IO.Directory.Exists(directory)) System.IO.Directory.Delete(directory, recursive: true);
    }

    public void DeleteUpdatesExcept(string keep)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(keep))!;
        foreach (var file in System.IO.Directory.EnumerateFiles(directory, "*.safetensors"))
            if (Path.GetFullPath(file) != Path.GetFullPath(keep)) File.Delete(file);
    }

    static string RoundFileName(string federationId, int round) => $"{Sanitize(federationId)}-round-{round}";

    static string Sanitize(string name) => string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
