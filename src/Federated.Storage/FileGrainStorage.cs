using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Federated.IO;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Federated.Storage;

/// <summary>
/// Grain storage that keeps each grain's state (per state name) in one file under
/// <see cref="FileGrainStorageOptions.RootDirectory"/>, so the embedded coordinator keeps its state
/// across restarts without Redis.
/// </summary>
/// <remarks>
/// File layout: "FGS1" | etag length (int32 LE) | etag (UTF-8) | payload length (int64 LE) | payload |
/// SHA-256 of payload. Files are replaced with <see cref="DurableFile"/>, so a crash leaves either the old or the new
/// file, never a torn one, and a completed write survives a power loss.
/// </remarks>
public sealed class FileGrainStorage : IGrainStorage
{
    static readonly byte[] Magic = "FGS1"u8.ToArray();
    const int HashLength = 32;
    const string Extension = ".state";

    // Longer escaped names are cut and get a hash suffix: file names are limited to 255 bytes and
    // the temp file name adds ~40 characters.
    const int MaxReadableNameLength = 150;

    // Striped, process-wide locks: bounded memory however many grains there are, and two silos of one
    // process (as in a test cluster) sharing a directory still serialize on the same file.
    static readonly SemaphoreSlim[] Gates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    readonly string _root;
    readonly IGrainStorageSerializer _serializer;
    readonly IActivatorProvider _activatorProvider;

    public FileGrainStorage(string name, FileGrainStorageOptions options, IActivatorProvider activatorProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(activatorProvider);
        if (string.IsNullOrWhiteSpace(options.RootDirectory))
        {
            throw new ArgumentException($"File grain storage '{name}': {nameof(FileGrainStorageOptions.RootDirectory)} is not set.", nameof(options));
        }

        _serializer = options.GrainStorageSerializer
            ?? throw new ArgumentException($"File grain storage '{name}': no {nameof(IGrainStorageSerializer)} configured.", nameof(options));
        _activatorProvider = activatorProvider;
        _root = Path.GetFullPath(options.RootDirectory);
        Directory.CreateDirectory(_root);
    }

    /// <summary>Factory used by <see cref="FileGrainStorageSiloBuilderExtensions.AddFileGrainStorage"/>.</summary>
    public static FileGrainStorage Create(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<FileGrainStorageOptions>>().Get(name);
        return new FileGrainStorage(name, options, services.GetRequiredService<IActivatorProvider>());
    }

    /// <summary>The file that holds <paramref name="stateName"/> of <paramref name="grainId"/>.</summary>
    public string GetFilePath(string stateName, GrainId grainId) => Path.Combine(_root, GetFileName(stateName, grainId));

    /// <summary>
    /// "{type}+{key}+{state}.state" with every character outside [A-Za-z0-9._-] percent-escaped
    /// (lower-case hex), so '/' in keys is safe and distinct identities give distinct names.
    /// </summary>
    public static string GetFileName(string stateName, GrainId grainId)
    {
        var name = $"{Escape(grainId.Type.ToString()!)}+{Escape(grainId.Key.ToString()!)}+{Escape(stateName)}";

        // Upper case letters get a hash suffix too: on case-insensitive file systems (macOS, Windows)
        // "Fed" and "fed" would otherwise be the same file. Escaped names never contain '~'.
        if (name.Length > MaxReadableNameLength || name.Any(char.IsAsciiLetterUpper))
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)), 0, 16);
            name = $"{name[..Math.Min(name.Length, MaxReadableNameLength)]}~{hash}";
        }

        return name + Extension;
    }

    static string Escape(string value)
    {
        var builder = new StringBuilder(value.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.IsAscii && (char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '.' or '_' or '-'))
            {
                builder.Append((char)rune.Value);
                continue;
            }

            var count = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..count])
            {
                builder.Append('%').Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var path = GetFilePath(stateName, grainId);
        var gate = GateFor(path);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var record = await TryReadRecordAsync(path, cancellationToken).ConfigureAwait(false);
            if (record is null)
            {
                ResetGrainState(grainState);
                return;
            }

            T? state;
            try
            {
                state = _serializer.Deserialize<T>(new BinaryData(record.Value.Payload));
            }
            catch (Exception ex)
            {
                throw new FileGrainStorageException(path, $"the payload does not deserialize as {typeof(T)}", ex);
            }

            grainState.State = state ?? CreateInstance<T>();
            grainState.ETag = record.Value.ETag;
            grainState.RecordExists = true;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        // Serialized before the first await: a reentrant grain may change its state while this write waits,
        // and the continuation runs off the grain's scheduler.
        var payload = _serializer.Serialize(grainState.State).ToMemory();
        var path = GetFilePath(stateName, grainId);
        var gate = GateFor(path);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Check and replace under the same lock, so of two writers holding the same ETag only one wins.
            var stored = await TryReadRecordAsync(path, cancellationToken).ConfigureAwait(false);
            ThrowIfETagDiffers(path, stored?.ETag, grainState.ETag, "write");

            var newETag = Guid.NewGuid().ToString("N");
            await DurableFile.WriteBytesAsync(path, Encode(newETag, payload.Span), cancellationToken: cancellationToken).ConfigureAwait(false);

            grainState.ETag = newETag;
            grainState.RecordExists = true;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var path = GetFilePath(stateName, grainId);
        var gate = GateFor(path);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stored = await TryReadRecordAsync(path, cancellationToken).ConfigureAwait(false);
            if (stored is not null)
            {
                ThrowIfETagDiffers(path, stored.Value.ETag, grainState.ETag, "clear");
                File.Delete(path);
                FileSystemSync.FlushDirectory(_root); // the deletion, too, must survive a power loss
            }

            ResetGrainState(grainState);
        }
        finally
        {
            gate.Release();
        }
    }

    static SemaphoreSlim GateFor(string path) =>
        Gates[(uint)StringComparer.Ordinal.GetHashCode(path) % (uint)Gates.Length];

    static void ThrowIfETagDiffers(string path, string? storedETag, string? currentETag, string operation)
    {
        if (!string.Equals(storedETag, currentETag, StringComparison.Ordinal))
        {
            throw new InconsistentStateException(
                $"ETag mismatch on {operation} of '{path}': stored {storedETag ?? "(no record)"}, caller has {currentETag ?? "(none)"}.",
                storedETag ?? "",
                currentETag ?? "");
        }
    }

    void ResetGrainState<T>(IGrainState<T> grainState)
    {
        grainState.State = CreateInstance<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    T CreateInstance<T>() => _activatorProvider.GetActivator<T>().Create();

    readonly record struct StoredRecord(string ETag, byte[] Payload);

    static async Task<StoredRecord?> TryReadRecordAsync(string path, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            // FileShare.Delete: never block a rename or delete by another writer (matters on Windows).
            await using var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.ReadWrite | FileShare.Delete,
                Options = FileOptions.Asynchronous,
            });
            bytes = new byte[stream.Length];
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        return Decode(path, bytes);
    }

    static byte[] Encode(string etag, ReadOnlySpan<byte> payload)
    {
        var etagBytes = Encoding.UTF8.GetBytes(etag);
        var buffer = new byte[Magic.Length + 4 + etagBytes.Length + 8 + payload.Length + HashLength];
        var span = buffer.AsSpan();
        Magic.CopyTo(span);
        span = span[Magic.Length..];
        BinaryPrimitives.WriteInt32LittleEndian(span, etagBytes.Length);
        span = span[4..];
        etagBytes.CopyTo(span);
        span = span[etagBytes.Length..];
        BinaryPrimitives.WriteInt64LittleEndian(span, payload.Length);
        span = span[8..];
        payload.CopyTo(span);
        SHA256.HashData(payload, span[payload.Length..]);
        return buffer;
    }

    // Any deviation from the layout is reported with the file's path: state is never silently reset.
    static StoredRecord Decode(string path, byte[] bytes)
    {
        ReadOnlySpan<byte> span = bytes;
        if (span.Length < Magic.Length + 4 || !span[..Magic.Length].SequenceEqual(Magic))
        {
            throw new FileGrainStorageException(path, "it is not a grain state file (bad header)");
        }

        span = span[Magic.Length..];
        var etagLength = BinaryPrimitives.ReadInt32LittleEndian(span);
        span = span[4..];
        if (etagLength <= 0 || etagLength > span.Length - 8)
        {
            throw new FileGrainStorageException(path, "the ETag length is out of range");
        }

        var etag = Encoding.UTF8.GetString(span[..etagLength]);
        span = span[etagLength..];
        var payloadLength = BinaryPrimitives.ReadInt64LittleEndian(span);
        span = span[8..];
        if (payloadLength < 0 || payloadLength != span.Length - HashLength)
        {
            throw new FileGrainStorageException(path, $"the payload length {payloadLength} does not match the file size {bytes.Length}");
        }

        var payload = span[..(int)payloadLength];
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(span[(int)payloadLength..]))
        {
            throw new FileGrainStorageException(path, "the payload checksum does not match");
        }

        return new StoredRecord(etag, payload.ToArray());
    }
}

/// <summary>A grain state file exists but cannot be read back; the message names the file.</summary>
public sealed class FileGrainStorageException : Exception
{
    public FileGrainStorageException(string filePath, string reason, Exception? inner = null)
        : base($"Grain state file '{filePath}' is unreadable: {reason}. Restore or remove the file; the state was not reset.", inner)
    {
        FilePath = filePath;
    }

    /// <summary>The file that could not be read.</summary>
    public string FilePath { get; }
}
