using System.Text.RegularExpressions;
using Federated.Core.Adapters;

namespace Federated.Core.Formats.Peft;

/// <summary>
/// PEFT's rank_pattern / alpha_pattern lookup (<c>peft.utils.other.get_pattern_key</c>). The patterns come from untrusted
/// configs, so their cost is bounded: at most <see cref="MaxKeys"/> keys of at most <see cref="MaxKeyLength"/> characters;
/// a key that is a module path (letters, digits, '_', '-', '.') is matched without a regex in time linear in the path, and
/// at most <see cref="MaxRegexKeys"/> other keys are compiled with the non-backtracking engine (linear in the input, no
/// catastrophic backtracking) and a match timeout.
/// </summary>
sealed class PeftPattern<T>
{
    /// <summary>Keys per pattern: PEFT writes one per module whose rank or alpha differs, a few hundred for the largest models.</summary>
    public const int MaxKeys = 1024;
    public const int MaxKeyLength = 256;
    /// <summary>Keys that are real regular expressions (anything but a module path).</summary>
    public const int MaxRegexKeys = 32;
    static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    readonly List<(string Key, Regex? Regex, T Value)> _entries = [];

    public PeftPattern(IEnumerable<KeyValuePair<string, T>> pattern, string field, string source)
    {
        Field = field;
        var keys = pattern.ToList();
        if (keys.Count > MaxKeys)
            throw new AdapterFormatException($"{source}: {field} has {keys.Count} keys, more than the {MaxKeys} accepted");
        int regexes = 0;
        foreach (var (key, value) in keys)
        {
            if (key.Length is 0 or > MaxKeyLength)
                throw new AdapterFormatException($"{source}: {field} key '{Shorten(key)}' has {key.Length} characters; keys have 1 to {MaxKeyLength}");
            if (IsModulePath(key))
            {
                _entries.Add((key, null, value));
                continue;
            }
            if (++regexes > MaxRegexKeys)
                throw new AdapterFormatException($"{source}: {field} has more than {MaxRegexKeys} regular-expression keys (keys that are module paths: up to {MaxKeys})");
            try
            {
                // PEFT: re.match(rf"(.*\.)?({key})$", module_path) - the key is a regex matching whole trailing path segments.
                _entries.Add((key, new Regex($"^(.*\\.)?(?:{key})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, MatchTimeout), value));
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw new AdapterFormatException($"{source}: {field} key '{Shorten(key)}' is not a supported regular expression ({e.Message})", e);
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
                matched = entry.Regex?.IsMatch(modulePath) ?? MatchesPath(entry.Key, modulePath);
            }
            catch (RegexMatchTimeoutException e)
            {
                throw new AdapterFormatException($"{Field} key '{Shorten(entry.Key)}' took too long to match '{modulePath}'", e);
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

    static bool IsModulePath(string key) => key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>
    /// <c>^(.*\.)?(key)$</c> for a key whose only metacharacter is '.' (any character): the path ends with the key, starting
    /// at the path's start or after a '.'.
    /// </summary>
    static bool MatchesPath(string key, string path)
    {
        int start = path.Length - key.Length;
        if (start < 0 || (start > 0 && path[start - 1] != '.')) return false;
        for (int i = 0; i < key.Length; i++)
            if (key[i] == '.' ? path[start + i] == '\n' : key[i] != path[start + i]) return false;
        return true;
    }

    static string Shorten(string key) => key.Length <= 64 ? key : key[..64] + "...";
}
