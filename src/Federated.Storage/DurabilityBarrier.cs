using Federated.IO;

namespace Federated.Storage;

/// <summary>
/// Group commit for many small files: callers whose writes are done wait for one file-system sync that started
/// after they asked, so a thousand concurrent puts cost a few syncs instead of a thousand fsyncs (each of which
/// forces its own journal commit). The sync runs on a thread-pool thread, never on the caller's.
/// </summary>
sealed class DurabilityBarrier(string path)
{
    readonly SemaphoreSlim _gate = new(1, 1);
    long _requested, _completed;

    /// <summary>Returns once everything the caller wrote before calling is on disk.</summary>
    public async Task SyncAsync(CancellationToken cancellationToken = default)
    {
        long ticket = Interlocked.Increment(ref _requested);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref _completed) >= ticket) return; // a sync that began after our request covered us
            long covered = Volatile.Read(ref _requested);
            await Task.Run(() => FileSystemSync.SyncFileSystem(path), CancellationToken.None);
            Volatile.Write(ref _completed, covered);
        }
        finally
        {
            _gate.Release();
        }
    }
}
