namespace Federated.Contracts;

/// <summary>
/// What a client declares when it starts an upload: its id for the upload (1 to 64 of
/// <c>[A-Za-z0-9_-]</c>, chosen by the client so that it can resume after a restart), who it is, and the
/// SHA-256 (hex) and size of the bytes it will send, and optionally the slot the upload fills (e.g. the federation and round
/// it is for, <see cref="SlotOf"/>): an owner has at most one open upload per slot, and a new upload id in a slot replaces the
/// open one (an agent that retrained uploads other bytes under a new id; the old upload can no longer be wanted).
/// </summary>
public sealed record UploadTicket(string UploadId, string Owner, string Sha256, long Size, string? Slot = null)
{
    /// <summary>The slot of an update for <paramref name="round"/> of <paramref name="federationId"/>.</summary>
    public static string SlotOf(string federationId, long round) => $"{federationId}/{round.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>What the upload becomes in an <see cref="IContentStore"/> once completed.</summary>
    public StoredUpdate Reference => new(Sha256, Size);
}

/// <summary>
/// Resumable uploads of update payloads: bytes arrive in pieces over flaky links, every acknowledged
/// byte is durable, and a client that reconnects (to this or a restarted coordinator) asks for the
/// acknowledged offset and continues from there. Completing verifies the SHA-256 and moves the bytes
/// into an <see cref="IContentStore"/>.
/// <para>
/// Upload ids are scoped to their owner: another client using the same id gets its own, separate
/// upload, and can neither see nor touch this one. Uploads idle for longer than the staging's idle
/// time-to-live (30 min by default) vanish, so abandoned ones do not accumulate: <see cref="SweepAsync"/> removes them,
/// called on a timer by the host.
/// </para>
/// <para>
/// Open uploads are bounded by <see cref="StagingLimits"/>: one per owner and slot, a few per owner, and a global count
/// and sum of declared sizes; an upload that does not fit is refused by <see cref="BeginAsync"/> before anything is written.
/// </para>
/// </summary>
public interface IUploadStaging
{
    /// <summary>
    /// Starts an upload, or resumes it when the owner already began one with this id and the same hash
    /// and size (idempotent). Returns the acknowledged offset to continue from: 0 when new, the
    /// declared size when already completed (then <see cref="CompleteAsync"/> returns its reference).
    /// Resuming also restarts the idle time-to-live.
    /// </summary>
    /// <exception cref="ArgumentException">A malformed id, owner or SHA-256, or a size that is not positive.</exception>
    /// <exception cref="UploadTooLargeException"/>
    /// <exception cref="UploadConflictException">The owner's id is in use for other bytes.</exception>
    /// <exception cref="StagingFullException">The global count or bytes of open uploads would exceed the limits; nothing was staged or replaced.</exception>
    Task<long> BeginAsync(UploadTicket ticket, CancellationToken cancellationToken = default);

    /// <summary>The acknowledged offset (the declared size once completed).</summary>
    /// <exception cref="UploadNotFoundException"/>
    Task<long> GetOffsetAsync(string owner, string uploadId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends <paramref name="data"/> at <paramref name="offset"/>, which must be the acknowledged
    /// offset (or the end of bytes written since, see <see cref="WriteAsync"/>), and returns the new acknowledged offset once
    /// the bytes (and any written before them) are durable (flushed to disk,
    /// acknowledged by Redis). An append that fails or is interrupted may have acknowledged a prefix of
    /// <paramref name="data"/> (Redis acknowledges long appends chunk by chunk), never anything beyond
    /// it: the client asks <see cref="GetOffsetAsync"/> and continues from there.
    /// </summary>
    /// <exception cref="UploadNotFoundException"/>
    /// <exception cref="UploadOffsetMismatchException">Carries the offset to resume from.</exception>
    /// <exception cref="UploadOverrunException">The data would go beyond the declared size.</exception>
    Task<long> AppendAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/> without waiting for it to be durable, and returns the
    /// acknowledged offset, which may lag behind the bytes written: a staging acknowledges at its sync points (the
    /// directory staging every few tens of MiB; Redis on every write). <paramref name="offset"/> is the end of what was
    /// written so far, or the acknowledged offset, which discards anything written but not acknowledged (a client that
    /// resumes after a broken stream). <see cref="AppendAsync"/> at the end of the written bytes (with no data, say)
    /// makes all of them durable: call it at the end of a stream, and when a stream breaks, to keep what arrived.
    /// </summary>
    /// <exception cref="UploadNotFoundException"/>
    /// <exception cref="UploadOffsetMismatchException">Carries the acknowledged offset, to resume from.</exception>
    /// <exception cref="UploadOverrunException">The data would go beyond the declared size.</exception>
    Task<long> WriteAsync(string owner, string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Once all declared bytes are acknowledged: verifies their SHA-256, puts them into
    /// <paramref name="store"/> and drops the staged bytes. The completion is remembered for the idle
    /// time-to-live, so a retried call returns the same reference.
    /// </summary>
    /// <exception cref="UploadNotFoundException"/>
    /// <exception cref="UploadIncompleteException">Carries the offset to resume from.</exception>
    /// <exception cref="UploadHashMismatchException">The bytes are not the declared ones; the upload is discarded and nothing is stored.</exception>
    Task<StoredUpdate> CompleteAsync(string owner, string uploadId, IContentStore store, CancellationToken cancellationToken = default);

    /// <summary>Discards the upload (or the memory of its completion) if there is one.</summary>
    Task AbortAsync(string owner, string uploadId, CancellationToken cancellationToken = default);

    /// <summary>Removes the uploads idle longer than the idle time-to-live (and their share of the quota); returns how many.</summary>
    Task<int> SweepAsync(CancellationToken cancellationToken = default);
}

/// <summary>A refused upload operation; the message says what the client should do next.</summary>
public abstract class UploadException(string message) : ContentStoreException(message);

public sealed class UploadNotFoundException(string uploadId, string? detail = null)
    : UploadException($"no upload '{uploadId}' for this client{(detail is null ? " (never begun, replaced by a newer upload for the same round, aborted, or idle too long)" : $" ({detail})")}: begin it again from offset 0");

/// <param name="existing">The ticket in the way, when it is the same owner's (another owner's is never shown).</param>
public sealed class UploadConflictException(string uploadId, UploadTicket? existing)
    : UploadException($"upload id '{uploadId}' is already in use{(existing is null ? "" : $" for sha256:{existing.Sha256} ({existing.Size:N0} bytes)")}: choose a new upload id, or abort that upload first");

/// <summary>The staging holds as many open uploads, or as many declared bytes, as it may: nothing was staged.</summary>
public sealed class StagingFullException(long uploads, long bytes, long maxUploads, long maxBytes)
    : UploadException($"the coordinator's staging is full: {uploads:N0} uploads / {bytes:N0} bytes open (limits {maxUploads:N0} uploads / {maxBytes:N0} bytes); retry later")
{
    public long Uploads { get; } = uploads;
    public long Bytes { get; } = bytes;
}

public sealed class UploadTooLargeException(long size, long limit)
    : UploadException($"the declared size of {size:N0} bytes exceeds the {limit:N0}-byte limit: nothing was staged");

public sealed class UploadOffsetMismatchException(string uploadId, long offset, long expectedOffset)
    : UploadException($"upload '{uploadId}' has {expectedOffset:N0} bytes acknowledged, not {offset:N0}: resume from offset {expectedOffset}")
{
    public long ExpectedOffset { get; } = expectedOffset;
}

public sealed class UploadOverrunException(string uploadId, long offset, long length, long size)
    : UploadException($"{length:N0} bytes at offset {offset:N0} would exceed the {size:N0} bytes declared for upload '{uploadId}': send only the remaining {size - offset:N0} bytes, or begin a new upload");

public sealed class UploadIncompleteException(string uploadId, long offset, long size)
    : UploadException($"upload '{uploadId}' has {offset:N0} of {size:N0} bytes: resume from offset {offset} before completing")
{
    public long ExpectedOffset { get; } = offset;
}

public sealed class UploadHashMismatchException(string uploadId, string declared, string actual)
    : UploadException($"the bytes of upload '{uploadId}' hash to sha256:{actual}, not the declared sha256:{declared}; the upload was discarded: begin a new upload and send the bytes again");

/// <summary>Validation and naming shared by the staging implementations.</summary>
