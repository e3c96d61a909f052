namespace Federated.Core.Formats.Peft;

/// <summary>Orders module paths segment by segment, numbers numerically, so <c>layers.2</c> comes before <c>layers.10</c>.</summary>
sealed class ModulePathOrder : IComparer<string>
{
    public static readonly ModulePathOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        var xs = (x ?? "").Split('.');
        var ys = (y ?? "").Split('.');
        for (var i = 0; i < Math.Min(xs.Length, ys.Length); i++)
        {
            var c = CompareSegments(xs[i], ys[i]);
            if (c != 0) return c;
        }
        return xs.Length.CompareTo(ys.Length);
    }

    static int CompareSegments(string a, string b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            // Compare digit strings without parsing, so arbitrarily long numbers cannot overflow.
            var (ta, tb) = (a.TrimStart('0'), b.TrimStart('0'));
            var c = ta.Length != tb.Length ? ta.Length.CompareTo(tb.Length) : string.CompareOrdinal(ta, tb);
            if (c != 0) return c;
        }
        return string.CompareOrdinal(a, b);
    }

    static bool IsNumber(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);
}
