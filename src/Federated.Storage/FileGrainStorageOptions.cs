using Orleans.Storage;

namespace Federated.Storage;

/// <summary>Options for <see cref="FileGrainStorage"/>: one state file per grain and state name under <see cref="RootDirectory"/>.</summary>
public sealed class FileGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>Directory holding the state files; created if missing. Must not be shared by two processes (locks are in-process).</summary>
    public string RootDirectory { get; set; } = "";

    /// <summary>Serializer for grain state. Left null, the silo's default <see cref="IGrainStorageSerializer"/> is filled in.</summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;
}
