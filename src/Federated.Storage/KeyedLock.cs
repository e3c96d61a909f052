namespace Federated.Storage;

/// <summary>One async mutex per key, created on demand and dropped when nobody holds or waits for it.</summary>
sealed class KeyedLock
{
    readonly Dictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    sealed class Gate
    {
        public readonly SemaphoreSlim Semaphore = new(1, 1);
        public int Users;
    }

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken cancellationToken)
    {
        Gate gate;
        lock (_gates)
        {
            if (!_gates.TryGetValue(key, out gate!)) _gates[key] = gate = new Gate();
            gate.Users++;
        }
        try
        {
            await gate.Semaphore.WaitAsync(cancellationToken);
        }
        catch
        {
            Leave(key, gate);
            throw;
        }
        return new Releaser(this, key, gate);
    }

    void Leave(string key, Gate gate)
    {
        lock (_gates)
        {
            if (--gate.Users == 0) _gates.Remove(key);
        }
    }

    sealed class Releaser(KeyedLock owner, string key, Gate gate) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            gate.Semaphore.Release();
            owner.Leave(key, gate);
        }
    }
}
