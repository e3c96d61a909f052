using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace Federated.Coordinator.Hosting;

/// <summary>
/// Escapes control characters in every string a log event carries (C-style: <c>\n</c>, <c>\u001b</c>), so a value a client
/// or operator sent (a federation id, a path, a device name) cannot forge a line of the text log or drive a terminal.
/// Property values only: message templates are ours. JSON sinks escape too, so their events read the same either way.
/// </summary>
public sealed class ControlCharacterEscaping : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? changed = null;
        foreach (var (name, value) in logEvent.Properties)
            if (Escape(value) is { } escaped)
                (changed ??= []).Add(new LogEventProperty(name, escaped));
        if (changed is null) return;
        foreach (var property in changed)
            logEvent.AddOrUpdateProperty(property);
    }

    /// <summary>The value with its strings escaped, or null when nothing needed escaping (the common case allocates nothing).</summary>
    static LogEventPropertyValue? Escape(LogEventPropertyValue value)
    {
        switch (value)
        {
            case ScalarValue { Value: string s } when NeedsEscaping(s):
                return new ScalarValue(Escape(s));
            case SequenceValue sequence:
            {
                var items = sequence.Elements.Select(e => Escape(e)).ToArray();
                return items.All(i => i is null) ? null : new SequenceValue(items.Select((e, i) => e ?? sequence.Elements[i]));
            }
            case StructureValue structure:
            {
                var items = structure.Properties.Select(p => Escape(p.Value)).ToArray();
                return items.All(i => i is null) ? null
                    : new StructureValue(structure.Properties.Select((p, i) => new LogEventProperty(p.Name, items[i] ?? p.Value)), structure.TypeTag);
            }
            case DictionaryValue dictionary:
            {
                bool any = false;
                var pairs = dictionary.Elements.Select(p =>
                {
                    var key = Escape(p.Key) as ScalarValue;
                    var item = Escape(p.Value);
                    any |= key is not null || item is not null;
                    return new KeyValuePair<ScalarValue, LogEventPropertyValue>(key ?? p.Key, item ?? p.Value);
                }).ToList();
                return any ? new DictionaryValue(pairs) : null;
            }
            default:
                return null;
        }
    }

    static bool NeedsEscaping(string s)
    {
        foreach (char c in s)
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
                return true;
        return false;
    }

    public static string Escape(string s)
    {
        var escaped = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            escaped.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) || c is '\u2028' or '\u2029' => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }
        return escaped.ToString();
    }
}
