using System.Text.RegularExpressions;
using Federated.Core.Adapters;

namespace Federated.Core.Formats.Peft;

/// <summary>PEFT's rank_pattern / alpha_pattern lookup (<c>peft.utils.other.get_pattern_key</c>), with each key compiled once.</summary>
internal sealed class PeftPattern<T>
{
    readonly List<(string Key, Regex Regex, T Value)> _entries = [];

    public PeftPattern(IEnumerable<KeyValuePair<string, T>> pattern, string field, string source)
    {
        Field = field;
        foreach (var (key, value) in pattern)
        {
            try
            {
                // PEFT: re.match(rf"(.*\.)?({key})$", module_path) - the key is a regex matching whole trailing path segments.
                _entries.Add((key, new Regex($"^(.*\\.)?(?:{key})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), value));
            }
            catch (ArgumentException e)
            {
                throw new AdapterFormatException($"{source}: {field} key '{key}' is not a valid regular expression ({e.Message})", e);
            }
        }
    }

    /// <summary>rank_pattern or alpha_pattern, for messages.</summary>
    public string Field { get; }

    /// <summary>The value of the first key that matches <paramref name="modulePath"/>.</summary>
    public bool TryMatch(string modulePath, out string key, out T value)
    {
        foreach (var entry in _entries)
        {
            bool matched;
            try
            {
                matched = entry.Regex.IsMatch(modulePath);
            }
            catch (RegexMatchTimeoutException e)
            {
                throw new AdapterFormatException($"{Field} key '{entry.Key}' took too long to match '{modulePath}'", e);
            }
            if (matched)
            {
                (key, value) = (entry.Key, entry.Value);
                return true;
            }
        }
        (key, value) = ("", default!);
        return false;
    }
}
