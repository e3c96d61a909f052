namespace Federated.Grains.Rounds;

/// <summary>
/// Group commit for a reentrant grain's state: callers that ask while a write is running share the next
/// write, so N concurrent submissions cost about two writes instead of N. Every caller's change is in a
/// write that started after the caller asked, so its completion means the change is durable.
/// Runs on the grain's single-threaded scheduler: no locking needed.
/// </summary>
sealed class CoalescingWriter(Func<Task> write)
{
    Task _running = Task.CompletedTask;
    Task? _queued;

    public Task WriteAsync() => _queued ??= WriteAfterRunningAsync();

    async Task WriteAfterRunningAsync()
    {
        // Yield first so _queued is set before this method can reach the point where it clears it.
        await Task.Yield();
        try { await _running; }
        catch { /* the previous batch's callers saw its failure; this batch writes anew */ }
        _queued = null;
        _running = write();
        await _running;
    }
}
