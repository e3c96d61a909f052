namespace Federated.Storage;

/// <summary>
/// How much an <see cref="IUploadStaging"/> holds open at once. Per owner: one upload per slot (a new id replaces the open
/// one) and <see cref="MaxUploadsPerOwner"/> in all (beginning one more replaces the owner's oldest). Globally:
/// <see cref="MaxUploads"/> uploads and <see cref="MaxBytes"/> declared bytes, past which a begin is refused.
/// Completed uploads do not count.
/// </summary>
public sealed record StagingLimits(long MaxUploads = long.MaxValue, long MaxBytes = long.MaxValue, int MaxUploadsPerOwner = int.MaxValue)
{
    /// <summary>No global bound, none per owner beyond one per slot.</summary>
    public static readonly StagingLimits Unbounded = new();

    /// <summary>Whether <paramref name="uploads"/> open uploads of <paramref name="bytes"/> declared bytes fit.</summary>
    public bool Admits(long uploads, long bytes) => uploads <= MaxUploads && bytes <= MaxBytes;
}
