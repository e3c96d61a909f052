namespace Federated.Coordinator.Agents;

/// <summary>
/// Failed authentications each source address may have per minute (a burst of that many, refilled evenly). A lookup holds
/// one unit while it runs and gives it back unless it failed, so concurrent calls cannot overdraw the budget: lookups in
/// flight plus failures never exceed what is left. Full, idle addresses are forgotten.
/// </summary>
public sealed class FailureBudget(int perMinute, TimeProvider? time = null)
{
    sealed class Entry
    {
        public double Tokens;
        public long UpdatedAt;
        public int InFlight;
    }

    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    long _sweptAt;

    public int PerMinute => perMinute;

    /// <summary>Reserves one unit for a lookup from <paramref name="address"/>; false when none is left.</summary>
    public bool TryBegin(string address)
    {
        long now = _time.GetTimestamp();
        lock (_entries)
        {
            if (_time.GetElapsedTime(_sweptAt, now) > TimeSpan.FromSeconds(10)) Sweep(now);
            if (!_entries.TryGetValue(address, out var e))
                _entries[address] = e = new Entry { Tokens = perMinute, UpdatedAt = now };
            Refill(e, now);
            if (e.Tokens - e.InFlight < 1) return false;
            e.InFlight++;
            return true;
        }
    }

    /// <summary>Ends a lookup begun with <see cref="TryBegin"/>; a failure spends its unit.</summary>
    /// <returns>True when this failure spent the address's last unit.</returns>
    public bool End(string address, bool failed)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(address, out var e)) return false;
            e.InFlight--;
            if (!failed) return false;
            bool had = e.Tokens >= 1;
            e.Tokens = Math.Max(0, e.Tokens - 1);
            return had && e.Tokens < 1;
        }
    }

    /// <summary>Whether <paramref name="address"/> has no unit left (none reserved counts as spent here too).</summary>
    public bool IsSpent(string address)
    {
        long now = _time.GetTimestamp();
        lock (_entries)
        {
            if (!_entries.TryGetValue(address, out var e)) return false;
            Refill(e, now);
            return e.Tokens - e.InFlight < 1;
        }
    }

    void Refill(Entry e, long now)
    {
        e.Tokens = Math.Min(perMinute, e.Tokens + _time.GetElapsedTime(e.UpdatedAt, now).TotalMinutes * perMinute);
        e.UpdatedAt = now;
    }

    void Sweep(long now)
    {
        _sweptAt = now;
        foreach (var (address, e) in _entries.ToArray())
        {
            Refill(e, now);
            if (e.InFlight == 0 && e.Tokens >= perMinute) _entries.Remove(address);
        }
    }
}
