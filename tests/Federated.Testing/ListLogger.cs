using Microsoft.Extensions.Logging;

namespace Federated.Testing;

/// <summary>Keeps formatted log lines so a test can read what a component said it did.</summary>
public sealed class ListLogger<T> : ILogger<T>
{
    readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add(formatter(state, exception));
    }
}
