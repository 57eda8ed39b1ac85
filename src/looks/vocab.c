/* The offline grading vocabulary, as C data: terms (what each does to the
 * image, in the effect language below), modifiers (degree and negation)
 * and stop words, in English and Chinese.
 *
 * Effect language (parsed by looks_effect_apply in parse.c), items
 * separated by spaces, each scaled by the degree the term is used with:
 *     FIELD=+V         a scalar of dlut_look: temp tint exposure bright
 *                      contrast shadows highlights fade crush rolloff sat
 *                      vib mono clip
 *     mono.r=+V        channel-mixer weight offsets (mono.r/.g/.b)
 *     shadow=H@C       split toning: add chroma C (CIELAB units) at Lab hue
 *                      H degrees in the shadows; highlight=H@C in the
 *                      highlights; cast=H@C across the midtones
 *     hue.BAND=+D      rotate the hues of a band by D degrees; sat.BAND=+V
 *                      scales its chroma by 1+V; lum.BAND=+V shifts its L*
 *                      (BAND: red orange yellow green aqua blue purple magenta)
 * Useful Lab hues: red 30, orange/skin 60, amber 75, yellow 95, green 140,
 * teal/cyan 195, sky blue 240, blue 280, purple 310, magenta 340.
 *
 * Each definition says what the look does to an image (how photographers
 * and colourists describe it: e.g. Portra's warm, low-contrast skin and
 * muted greens; bleach bypass's retained silver: low saturation, high
 * contrast; cross-processing's cyan shadows and yellow highlights), never
 * just a name. The degrees are tuned so that a plain term is a clear but
 * moderate change; "very" makes it 1.6x, "slightly" 0.5x. */
#include <stddef.h>

#include "dlut/looks.h"
#include "looks/looks_internal.h"

static const dlut_looks_term k_terms[] = {
    /* ==== Colour temperature and tint ==== */
    {"warm|warmer|warmth|warm tone|warm tones|warm colors|warm colours|warmed",
     "暖|温暖|暖色|暖色调|暖调|偏暖|暖暖|暖和", "temperature",
     "warmer white balance: whites and neutrals move towards amber", "temp=+1.6"},
    {"cool|cooler|cold|colder|cool tone|cool tones|cold tone|cold tones|chilly|frosty",
     "冷|冷色|冷色调|冷调|偏冷|清冷|寒冷|冰冷|冷峻", "temperature",
     "cooler white balance: whites and neutrals move towards blue", "temp=-1.6"},
    {"icy|ice|frozen", "冰|冰蓝|冰雪", "temperature", "very cold, bright and slightly desaturated, blue highlights",
     "temp=-2.2 sat=-0.2 bright=+0.2 highlight=240@5"},
    {"tungsten|incandescent|candlelight|candle light|lamplight", "钨丝灯|烛光|灯光|暖光|白炽灯|昏黄|路灯|暖黄灯光",
     "temperature", "the amber of tungsten light: strongly warm, soft highlights",
     "temp=+2.4 bright=-0.1 rolloff=+0.4"},
    {"magenta tint|pinkish|rosy", "偏粉|偏品红|粉调|粉嫩", "tint", "tint towards magenta (away from green)",
     "tint=+2.2"},
    {"green tint|greenish|fluorescent", "偏绿|绿调|荧光灯", "tint", "tint towards green (as under fluorescent light)",
     "tint=-2.2"},

    /* ==== Tone ==== */
    {"bright|brighter|brightness|lighter|brighten|luminous", "亮|明亮|亮度|提亮|光亮|亮堂|明快", "tone",
     "brighter midtones, endpoints kept", "bright=+0.5 exposure=+0.15"},
    {"dark|darker|darken|dim|darkness|shadowy", "暗|昏暗|压暗|黑暗|暗沉|偏暗", "tone",
     "darker midtones, endpoints kept", "bright=-0.5 exposure=-0.15"},
    {"exposure|exposed", "曝光|曝光度", "tone", "exposure in stops (highlights roll off instead of clipping)",
     "exposure=+0.6"},
    {"overexposed|overexposure|blown out", "过曝|过度曝光", "tone", "a stop over, with a soft shoulder",
     "exposure=+1 rolloff=+0.3"},
    {"underexposed|underexposure", "欠曝|曝光不足", "tone", "a stop under", "exposure=-1"},
    {"contrast|contrasty|high contrast", "对比|对比度|反差|高对比|高反差|大对比", "tone",
     "an S-curve: darker shadows, brighter highlights", "contrast=+0.6"},
    {"punchy|snappy|crisp", "通透|有冲击力|锐利", "tone", "contrast with a little extra colour",
     "contrast=+0.45 sat=+0.15 vib=+0.1"},
    {"soft|gentle|smooth|low contrast", "柔和|柔|柔光|柔焦|低对比|低反差|柔美", "tone",
     "lower contrast and a softer highlight shoulder", "contrast=-0.45 rolloff=+0.3"},
    {"flat|log|washed out", "平淡|灰片|发灰|灰蒙蒙", "tone", "flat, greyish: low contrast, lifted blacks, less colour",
     "contrast=-0.6 fade=+0.3 sat=-0.2"},
    {"faded|fade|matte|matt|lifted blacks|milky", "褪色|哑光|雾面|磨砂|灰调|黑位提升|奶灰", "tone",
     "lifted, milky blacks (the matte film look); a little less contrast and colour",
     "fade=+0.8 contrast=-0.15 sat=-0.15"},
    {"crushed blacks|crushed|crush|deep blacks|inky|inky blacks|rich blacks", "死黑|压黑|深黑|浓黑|纯黑", "tone",
     "crushed blacks: deep shadows pulled down to black", "crush=+0.8 contrast=+0.2"},
    {"highlight rolloff|highlight roll off|soft highlights|roll off|rolloff|creamy highlights",
     "高光柔和|柔和高光|高光压缩|压高光|高光过渡", "tone",
     "a soft highlight shoulder: whites roll off instead of clipping", "rolloff=+0.9 highlights=-0.3"},
    {"lifted shadows|lift shadows|open shadows|shadow detail|shadows", "提亮阴影|暗部提亮|阴影|暗部|亮部阴影", "tone",
     "lifted shadows (\"low shadows\" deepens them)", "shadows=+0.7"},
    {"deep shadows|dark shadows|heavy shadows", "阴影加深|暗部压暗|深阴影|浓重阴影", "tone", "deeper shadows",
     "shadows=-0.7 contrast=+0.1"},
    {"highlights|bright highlights", "高光|亮部", "tone", "brighter highlights (\"lower highlights\" recovers them)",
     "highlights=+0.6"},
    {"high key|high-key|airy light", "高调|高调摄影|高明度", "tone",
     "bright, low-contrast, open shadows (the high-key look)", "bright=+0.6 exposure=+0.3 contrast=-0.3 shadows=+0.4"},
    {"low key|low-key", "低调|暗调|低调摄影", "tone", "dark, contrasty, deep blacks (the low-key look)",
     "bright=-0.6 exposure=-0.3 contrast=+0.35 crush=+0.3"},
    {"hdr|tone mapped|tonemapped", "高动态|HDR感", "tone", "open shadows, recovered highlights, extra colour",
     "shadows=+0.7 highlights=-0.6 sat=+0.2 vib=+0.2"},
    {"hazy|haze|foggy|fog|misty|mist", "朦胧|雾|雾气|薄雾|雾蒙蒙|烟雾", "tone",
     "haze: lifted blacks, lower contrast, less colour, slightly brighter",
     "fade=+0.5 contrast=-0.4 sat=-0.2 bright=+0.2"},
    {"glow|glowing|luminescent", "光晕|发光|柔光感", "tone",
     "bright, soft, glowing highlights (tone only: a LUT cannot blur)", "rolloff=+0.5 bright=+0.25 highlights=+0.3"},

    /* ==== Saturation ==== */
    {"saturated|saturation|vivid|colorful|colourful|rich colors|rich colours|rich|bold colors|bold colours",
     "饱和|饱和度|鲜艳|艳丽|浓郁|色彩丰富|鲜明|高饱和|艳", "saturation", "more chroma everywhere", "sat=+0.5"},
    {"vibrant|vibrance|lively", "自然饱和度|生动|鲜活|活力", "saturation",
     "more chroma in muted colours, skin and vivid colours spared", "vib=+0.7 sat=+0.05"},
    {"desaturated|desaturate|muted|subdued|dull|pale|washed|low saturation|undersaturated",
     "低饱和|去饱和|淡|淡雅|素|素雅|暗淡|清淡|寡淡|灰暗", "saturation", "less chroma everywhere", "sat=-0.5"},
    {"grey|gray|greyish|grayish", "灰|灰色调|高级灰|灰蓝", "saturation", "greyish: much less colour, slightly flatter",
     "sat=-0.6 contrast=-0.1"},

    /* ==== Split toning ==== */
    {"teal and orange|orange and teal|teal orange|orange teal|blockbuster|orange and blue|blue and orange",
     "青橙|橙青|青橙色调|橙青色调|好莱坞|大片感", "toning",
     "teal shadows, orange highlights and skin; greens pushed towards teal; more contrast",
     "shadow=200@20 highlight=65@10 hue.green=+30 hue.aqua=+5 hue.yellow=-15 sat.orange=+0.1 contrast=+0.25"},
    {"split toning|split tone|split toned", "分离色调|分离色|色调分离", "toning",
     "the classic split tone: cool shadows, warm highlights", "shadow=230@9 highlight=75@9"},
    {"warm highlights", "暖高光|高光偏暖", "toning", "amber in the highlights only", "highlight=70@12"},
    {"cool shadows|blue shadows|cold shadows", "冷阴影|阴影偏冷|暗部偏蓝|暗部偏冷", "toning",
     "blue in the shadows only", "shadow=250@12"},
    {"teal|teal shadows", "青|青调|青色调|蓝绿", "toning", "teal (blue-green) in the shadows and a teal cast",
     "shadow=195@12 cast=195@4 hue.green=+12"},

    /* ==== Monochrome ==== */
    {"black and white|black & white|b&w|b/w|bw|monochrome|mono|grayscale|greyscale|achromatic",
     "黑白|单色|灰度|黑白照|黑白片|去色", "monochrome", "monochrome (luminance-weighted channel mix)", "mono=1"},
    {"red filter", "红滤镜|红色滤镜", "monochrome", "monochrome through a red filter: dark skies, light skin",
     "mono=1 mono.r=+0.55 mono.g=-0.3 mono.b=-0.07 contrast=+0.2"},
    {"green filter", "绿滤镜|绿色滤镜", "monochrome", "monochrome through a green filter: lighter foliage",
     "mono=1 mono.r=-0.1 mono.g=+0.25 mono.b=-0.05"},
    {"sepia|sepia tone|sepia toned|old photo|old photograph", "棕褐色|老照片|怀旧色|褐色调|旧照片|泛黄", "monochrome",
     "sepia: monochrome with a brown-amber tone, slightly faded",
     "mono=0.92 cast=75@16 highlight=85@4 fade=+0.2 contrast=-0.1"},
    {"cyanotype|selenium|blueprint", "蓝晒|氰版|蓝图", "monochrome", "cyanotype: monochrome in Prussian blue",
     "mono=1 cast=255@22 shadow=260@8 fade=+0.15"},
    {"duotone", "双色调", "monochrome", "monochrome mapped between a cool shadow colour and a warm highlight colour",
     "mono=1 shadow=280@20 highlight=70@16"},

    /* ==== Film stocks and processes ==== */
    {"film|analog|analogue|film look|filmic|film stock|film grain|35mm|grain",
     "胶片|胶片感|胶片风|菲林|胶卷|模拟|胶片味|颗粒感", "film",
     "a generic colour-negative print: soft shoulder, slightly lifted blacks, warm, muted greens",
     "fade=+0.3 contrast=+0.15 rolloff=+0.5 temp=+0.35 sat=-0.05 sat.green=-0.15 shadow=190@3 highlight=75@3"},
    {"portra|kodak portra|portra 400|portra 160", "波特拉|人像胶片", "film",
     "Kodak Portra: warm, low-contrast, creamy skin, muted greens, soft highlights",
     "temp=+0.7 sat=-0.1 vib=+0.1 fade=+0.25 rolloff=+0.6 contrast=-0.1 hue.orange=+4 hue.green=-8 "
     "sat.green=-0.25 highlight=70@3"},
    {"velvia|fuji velvia|fujichrome|slide film|reversal film|chrome", "维尔维亚|反转片|正片", "film",
     "Fuji Velvia slide film: very saturated, contrasty, deep blacks, rich greens and blues",
     "sat=+0.6 contrast=+0.5 crush=+0.2 hue.green=-5 sat.green=+0.3 sat.blue=+0.3 temp=-0.2"},
    {"cinestill|cinestill 800t|800t|tungsten film", "电影卷|钨丝灯片|cinestill", "film",
     "CineStill 800T: tungsten-balanced, so daylight turns cool teal; red-magenta glow in the highlights",
     "temp=-1.8 tint=+0.5 contrast=+0.2 fade=+0.1 rolloff=+0.5 highlight=20@6 hue.red=-8 shadow=210@6"},
    {"ektar|kodak ektar", "艾克塔", "film", "Kodak Ektar: saturated, punchy, vivid reds and blues",
     "sat=+0.45 contrast=+0.3 sat.red=+0.2 sat.blue=+0.2 temp=+0.3"},
    {"kodachrome", "柯达克罗姆|克罗姆", "film", "Kodachrome: rich, contrasty, warm, deep reds and cyan-leaning blues",
     "sat=+0.35 contrast=+0.35 temp=+0.4 sat.red=+0.25 hue.blue=-8 crush=+0.1"},
    {"kodak gold|kodak|gold 200|colorplus", "柯达|柯达金|金200", "film",
     "Kodak Gold consumer film: warm golden highlights, saturated, slightly faded",
     "temp=+1.1 sat=+0.15 highlight=80@6 contrast=+0.15 fade=+0.1"},
    {"fuji|fujifilm|superia|fuji superia|pro 400h|400h", "富士|富士胶片", "film",
     "Fujifilm colour negative: cooler, green-leaning shadows, clean greens",
     "temp=-0.3 tint=-0.3 sat=+0.1 shadow=160@5 hue.green=+6 sat.green=+0.1 contrast=+0.15"},
    {"ilford|hp5|ilford hp5|tri-x|tri x|trix|delta 3200", "伊尔福|黑白胶片|大反差黑白", "film",
     "classic black-and-white film: monochrome, contrasty, rich blacks",
     "mono=1 contrast=+0.45 crush=+0.15 fade=+0.05"},
    {"bleach bypass|skip bleach|silver retention", "漂白|跳漂|漂白效果|银残留|留银", "film",
     "bleach bypass: silver left in the print: low saturation, high contrast, steely",
     "sat=-0.6 contrast=+0.7 crush=+0.2 shadow=220@2"},
    {"cross process|cross processed|cross processing|xpro|x-pro", "交叉冲洗|正片负冲|负冲|交叉冲印", "film",
     "cross-processing: cyan-blue shadows, yellow highlights, high contrast and saturation",
     "contrast=+0.4 sat=+0.15 shadow=230@20 highlight=100@16 tint=-0.4 hue.green=+10"},
    {"lomo|lomography|toy camera", "乐魔|lomo风|玩具相机", "film",
     "Lomo: saturated, contrasty, crushed blacks, blue shadows and yellow highlights",
     "contrast=+0.5 sat=+0.4 crush=+0.25 shadow=240@6 highlight=95@6"},
    {"polaroid|instant film|instax", "拍立得|宝丽来", "film",
     "instant film: faded, soft, warm-cyan split, slightly desaturated",
     "fade=+0.5 contrast=-0.1 temp=+0.4 shadow=200@6 highlight=85@6 sat=-0.1 rolloff=+0.4"},

    /* ==== Looks ==== */
    {"cinematic|cinema|movie|movie look|film still", "电影感|电影|电影色调|电影质感", "look",
     "a modern cinema grade: gentle S-curve, teal shadows, warm highlights, soft shoulder",
     "contrast=+0.3 shadow=200@8 highlight=60@6 sat=-0.05 crush=+0.1 rolloff=+0.4 hue.green=+8"},
    {"cyberpunk|synthwave|neon noir", "赛博朋克|赛博|朋克", "look",
     "cyberpunk: magenta-pink highlights, deep blue-violet shadows, oranges pulled to pink, contrasty",
     "temp=-1.0 tint=+1.2 shadow=285@18 highlight=340@12 contrast=+0.45 sat=+0.35 hue.yellow=-30 hue.orange=-25 "
     "hue.aqua=+10 crush=+0.2"},
    {"vaporwave|retrowave", "蒸汽波", "look", "vaporwave: pink-violet and cyan pastels, lifted blacks",
     "tint=+1.3 shadow=280@14 highlight=190@10 sat=+0.3 fade=+0.2"},
    {"neon", "霓虹|霓虹灯", "look", "neon: saturated, contrasty, purple shadows",
     "sat=+0.5 contrast=+0.35 shadow=290@10 tint=+0.6"},
    {"noir|film noir", "黑色电影|暗黑电影", "look", "film noir: black and white, very contrasty, deep blacks",
     "mono=1 contrast=+0.9 crush=+0.5 bright=-0.2"},
    {"vintage|retro|old school|nostalgic|nostalgia|old fashioned|70s|1970s|80s|1980s|90s|1990s|y2k",
     "复古|怀旧|年代感|老式|旧时光|七十年代|八十年代|九十年代", "look",
     "vintage print: faded blacks, warm cast, muted colours, soft shoulder",
     "fade=+0.45 temp=+0.6 sat=-0.25 contrast=-0.1 highlight=85@6 shadow=60@3 rolloff=+0.4"},
    {"pastel|pastels|candy|soft colors|soft colours", "马卡龙|粉彩|糖果色|粉嫩色|奶油色系", "look",
     "pastel: light, low-contrast, desaturated colours",
     "sat=-0.35 fade=+0.3 bright=+0.35 contrast=-0.35 highlight=0@3"},
    {"golden hour|sunset|sunrise|dusk|magic hour|golden",
     "黄金时刻|日落|夕阳|落日|晚霞|黄昏|日出|朝阳|暖阳|金色|金黄|余晖", "light",
     "golden hour: strongly warm, amber highlights, richer warm colours",
     "temp=+2.0 highlight=70@10 cast=55@4 sat=+0.15 contrast=+0.1 hue.yellow=-10"},
    {"blue hour|twilight|evening", "蓝调时刻|蓝调|蓝色时刻|暮光|傍晚", "light",
     "blue hour: cool, blue-violet shadows, slightly darker",
     "temp=-1.7 shadow=270@10 highlight=250@4 sat=+0.1 bright=-0.2"},
    {"moonlight|moonlit|moon", "月光|月夜|月色", "light", "moonlight: cold blue, dark, desaturated (day-for-night)",
     "temp=-2.0 bright=-0.4 exposure=-0.3 sat=-0.35 shadow=250@8 contrast=+0.2"},
    {"night|nighttime|midnight", "夜|夜晚|夜景|夜色|深夜|午夜", "light", "night: darker, cooler, deeper blacks",
     "bright=-0.25 temp=-0.8 crush=+0.1 contrast=+0.1 shadow=250@6"},
    {"daylight|midday|noon|sunlight|sunny|sunshine|sunlit", "日光|正午|阳光|晴天|晴朗", "light",
     "bright daylight: slightly warm, brighter, clear colours", "bright=+0.3 temp=+0.5 sat=+0.15 contrast=+0.15"},
    {"overcast|cloudy|rainy|rain|storm|stormy", "阴天|多云|雨天|下雨|雨|暴雨", "light",
     "overcast: cooler, flatter, less colour", "temp=-0.6 sat=-0.3 contrast=-0.2 bright=-0.1"},
    {"autumn|fall|autumnal", "秋|秋天|秋季|秋日|深秋|秋色", "season",
     "autumn: warm, greens turned towards gold and orange, richer oranges",
     "temp=+1.0 hue.yellow=-12 hue.green=-35 sat.orange=+0.3 sat.yellow=+0.2 sat.green=-0.2 highlight=70@4"},
    {"winter|wintry|snow|snowy", "冬|冬天|冬季|冬日|雪|雪景|雪天", "season", "winter: cold, bright, less colour",
     "temp=-1.3 sat=-0.3 bright=+0.3 exposure=+0.2 highlight=240@4 fade=+0.1"},
    {"spring|springtime", "春|春天|春日|春季", "season", "spring: light, fresh greens, gentle colour",
     "bright=+0.25 sat=+0.15 tint=-0.2 sat.green=+0.3 hue.green=-5 fade=+0.1 temp=+0.2"},
    {"summer|summertime|tropical", "夏|夏天|夏日|盛夏|夏季|热带", "season",
     "summer: saturated, contrasty, bright, vivid blues",
     "sat=+0.3 contrast=+0.2 bright=+0.15 temp=+0.4 sat.blue=+0.3 sat.aqua=+0.2"},
    {"japanese|japanese airy|airy|japan|japanese style|nihon", "日系|日系小清新|空气感|日式|日杂", "look",
     "Japanese airy (日系): bright, low-contrast, slightly cool and green-cyan, lifted shadows, gentle colour",
     "bright=+0.55 exposure=+0.2 contrast=-0.35 sat=-0.25 temp=-0.4 tint=-0.2 fade=+0.2 shadows=+0.5 hue.green=+12 "
     "sat.green=-0.2 highlight=200@3"},
    {"hong kong|hong kong film|hk film|wong kar wai|wong kar-wai|hk style",
     "港风|港式|港片|王家卫|老港片|香港电影|港味", "look",
     "Hong Kong film (港风): contrasty, green-cyan shadows, warm highlights, rich but dirty colour",
     "contrast=+0.55 sat=+0.1 temp=+0.5 tint=-0.3 shadow=170@16 highlight=60@8 hue.green=+10 crush=+0.1 "
     "hue.red=-6"},
    {"morandi|muted pastel|dusty|dusty colors|dusty colours", "莫兰迪|莫兰迪色|莫兰迪色系|脏粉|灰粉", "look",
     "Morandi (莫兰迪): greyed, dusty, low-contrast colours with a faint warm cast",
     "sat=-0.55 fade=+0.3 contrast=-0.3 bright=+0.1 cast=40@3"},
    {"black gold", "黑金", "look",
     "black gold (黑金): dark, desaturated city, only oranges and yellows kept, turned gold",
     "sat=-0.7 sat.orange=+1.2 sat.yellow=+1.0 sat.red=+0.4 hue.yellow=-10 hue.red=+15 bright=-0.3 contrast=+0.4 "
     "crush=+0.3 temp=+0.3"},
    {"instagram|ins|insta", "ins风|网红|ins", "look", "the social-media print: faded, warm, a little muted",
     "fade=+0.3 contrast=+0.1 sat=-0.1 temp=+0.3"},
    {"creamy|cream|milky tones", "奶油|奶油色|奶油风|奶咖", "look", "creamy: warm, light, soft, a little faded",
     "temp=+0.6 fade=+0.25 sat=-0.2 bright=+0.25 highlight=80@4 contrast=-0.2"},
    {"caramel|toffee|coffee", "焦糖|焦糖色|咖啡|咖啡调", "look", "caramel: warm brown-orange, yellows turned orange",
     "temp=+1.2 sat.orange=+0.3 hue.yellow=-12 contrast=+0.15 fade=+0.1"},
    {"mint|minty", "薄荷|薄荷绿|薄荷色", "look", "mint: cool green-cyan, light, a little faded",
     "tint=-0.6 temp=-0.6 bright=+0.25 cast=170@4 sat=-0.1"},
    {"forest|woodland|forest green|moss", "森系|森林|森林系|苔藓", "look",
     "forest (森系): muted, slightly cool, deep yellow-greens, soft",
     "sat.green=+0.15 hue.green=+8 hue.yellow=+6 fade=+0.2 temp=-0.2 contrast=-0.1 bright=+0.1 sat=-0.15"},
    {"ocean|sea|beach|seaside", "海|海边|海洋|沙滩|大海|海滩", "look", "seaside: bright, clean, vivid blues and aquas",
     "sat.aqua=+0.3 sat.blue=+0.3 bright=+0.2 temp=-0.3 hue.blue=-8"},
    {"desert|sand|sandy|dusty desert", "沙漠|荒漠|沙丘", "look", "desert: hot, orange, contrasty",
     "temp=+1.4 sat.orange=+0.2 contrast=+0.2 highlight=75@6"},
    {"oil painting|painterly", "油画|油画感", "look", "painterly: warm, rich, slightly faded",
     "sat=+0.3 contrast=+0.2 temp=+0.4 fade=+0.1"},
    {"earthy|earth tones|earth tone|earthy tones", "大地色|大地色系|土色|泥土色", "look",
     "earthy: warm browns and olives, greens turned towards ochre, muted",
     "temp=+0.6 sat=-0.3 hue.green=-12 sat.orange=+0.1 fade=+0.1"},
    {"morning|dawn|early morning", "清晨|早晨|晨光|黎明", "light",
     "morning: light, slightly cool and soft, a hint of warm sun",
     "bright=+0.2 temp=-0.3 fade=+0.15 contrast=-0.1 highlight=60@4"},
    {"wes anderson|anderson", "韦斯安德森|布达佩斯大饭店", "look",
     "Wes Anderson: warm pastel palette, rich yellows and reds, soft contrast",
     "sat=+0.1 temp=+0.7 fade=+0.2 contrast=-0.1 sat.red=+0.2 sat.yellow=+0.3 hue.green=-10 bright=+0.2"},
    {"matrix|the matrix", "黑客帝国|矩阵绿", "look", "The Matrix: sickly green cast, contrasty, drained",
     "tint=-2.5 contrast=+0.4 sat=-0.3 cast=140@6 crush=+0.2"},
    {"clipped|harsh|hard clip", "硬朗|生硬", "look", "hard contrast and a hard gamut clip instead of soft compression",
     "clip=1 contrast=+0.4"},

    /* ==== Moods ==== */
    {"dreamy|ethereal|dreamlike|fairy tale|fairytale", "梦幻|唯美|梦境|仙气|童话", "mood",
     "dreamy: bright, soft, faded, pink-violet highlights",
     "bright=+0.35 fade=+0.25 contrast=-0.3 highlight=330@6 rolloff=+0.6 sat=-0.05 tint=+0.5"},
    {"moody|brooding|atmospheric", "情绪|情绪感|暗黑|氛围感|深沉", "mood",
     "moody: dark, contrasty, desaturated, cool shadows",
     "bright=-0.35 contrast=+0.25 sat=-0.3 crush=+0.15 shadow=210@5 temp=-0.3"},
    {"gloomy|bleak|sad|melancholy|melancholic|depressing|somber|sombre", "阴郁|忧郁|阴沉|压抑|伤感|悲伤|沉闷|孤独",
     "mood", "gloomy: dark, cold, drained of colour", "bright=-0.45 sat=-0.45 temp=-0.6 contrast=-0.1 fade=+0.1"},
    {"cosy|cozy|comfy|homey|homely|snug", "温馨|舒适|惬意|治愈|居家", "mood", "cosy: warm, soft, gentle light",
     "temp=+1.2 bright=+0.15 contrast=-0.15 rolloff=+0.3 sat=+0.05 highlight=65@5"},
    {"fresh|clean|refreshing|clear", "清新|小清新|干净|清爽|清透|纯净", "mood",
     "fresh (清新): bright, slightly cool, clean greens, open shadows",
     "bright=+0.35 temp=-0.5 vib=+0.2 contrast=+0.05 shadows=+0.3 hue.green=+10 fade=+0.05"},
    {"happy|cheerful|joyful|playful|fun", "欢快|快乐|明媚|开心|活泼|愉快", "mood", "cheerful: bright, warm, colourful",
     "bright=+0.3 sat=+0.3 temp=+0.6 contrast=+0.1"},
    {"romantic|love|tender", "浪漫|爱情|温柔", "mood", "romantic: warm-pink, soft, bright",
     "temp=+0.6 tint=+0.8 bright=+0.2 rolloff=+0.4 highlight=10@6"},
    {"mysterious|mystery|eerie", "神秘|诡秘|奇幻", "mood", "mysterious: dark, cool-violet shadows",
     "bright=-0.35 temp=-0.8 tint=+0.5 contrast=+0.2 shadow=290@8"},
    {"calm|serene|peaceful|quiet|tranquil", "平静|宁静|安静|静谧|恬静|宁谧", "mood",
     "calm: slightly cool, gentle, soft colour", "temp=-0.4 sat=-0.2 contrast=-0.2 bright=+0.1"},
    {"dramatic|epic|intense|powerful", "戏剧|戏剧性|史诗|震撼|大气|磅礴", "mood",
     "dramatic: strong contrast, deep shadows", "contrast=+0.7 crush=+0.2 sat=+0.1 bright=-0.15 shadows=-0.3"},
    {"natural|realistic|true to life|neutral", "自然|真实|原色|写实|中性", "mood",
     "natural: almost untouched, a little vibrance", "vib=+0.1"},
    {"gritty|grunge|grungy|raw", "颓废|粗粝|废土|脏", "mood", "gritty: contrasty, desaturated, sickly green-yellow",
     "contrast=+0.4 sat=-0.4 tint=-0.4 crush=+0.2 temp=+0.2"},
    {"horror|creepy|scary|sinister", "恐怖|惊悚|阴森", "mood", "horror: dark, green-tinted, drained, contrasty",
     "sat=-0.5 tint=-0.8 bright=-0.4 contrast=+0.4 shadow=150@8"},
    {"elegant|classy|premium|luxury|sophisticated", "高级|高级感|优雅|轻奢", "mood",
     "elegant (高级感): restrained colour, soft contrast, slightly cool",
     "sat=-0.45 contrast=-0.1 fade=+0.15 temp=-0.2"},
};

static const dlut_looks_modifier k_modifiers[] = {
    {"very|really|super|extremely|highly|strongly|so|heavily|heavy|strong|much|intensely|deeply|totally|ultra|deep",
     "非常|很|超|超级|特别|十分|极|极其|太|浓|强烈|相当|格外|超级无敌|重度|深度", "intensify x1.6 (prefix)"},
    {"more|extra|plus|boost|boosted|increase|increased|add|higher|high|up|stronger|raise|raised|enhance|enhanced",
     "更|更加|多|提高|提升|增加|增强|加强|加|高|强|再|加大|偏高",
     "more / higher: x1.3 (prefix, or postfix as in 对比度高)"},
    {"less|lower|low|reduce|reduced|decrease|decreased|minus|down|weaker|lessen|tone down|toned down|cut",
     "少|降低|减少|减弱|减|低|弱|偏低|淡化", "less / lower: reverses the term, x-0.8 (prefix or postfix)"},
    {"slightly|slight|a bit|a little|a little bit|a touch of|touch of|somewhat|mild|mildly|subtle|subtly|gently|"
     "kind of|kinda|sort of|bit|little|lightly|faintly|hint of|a hint of|barely",
     "稍微|稍|有点|有些|一点|一点点|一些|些|点|略|略微|微|轻微|淡淡|淡淡的|些许|轻度|一丢丢",
     "soften x0.5 (prefix, or postfix as in 暖一点)"},
    {"no|not|without|non|dont|don't|never|avoid|zero|nothing", "不|不要|没有|无|别|去掉|去除|避免|不用|不想|不能",
     "negate: the term reversed at half strength and capped"},
    {"not too|not so|not overly|not very|too much|not that", "不要太|别太|不太|不用太|不要那么|不要过于|不宜太|不能太",
     "cap: the term may not push its way (\"not too saturated\": saturation does not rise)"},
};

/* Words that carry no grading meaning: skipped silently (not "ignored"). */
static const char *const k_stop_en[] = {
    "a",          "an",        "the",     "with",     "of",       "in",     "on",     "at",       "to",
    "for",        "like",      "look",    "looks",    "looking",  "style",  "styled", "photo",    "photograph",
    "picture",    "image",     "shot",    "make",     "it",       "please", "me",     "my",       "this",
    "that",       "is",        "be",      "give",     "color",    "colour", "colors", "colours",  "tone",
    "tones",      "toned",     "grade",   "graded",   "grading",  "effect", "mood",   "feel",     "feeling",
    "atmosphere", "some",      "ish",     "version",  "type",     "kind",   "vibe",   "lut",      "filter",
    "preset",     "edit",      "toning",  "scene",    "lighting", "lights", "its",    "was",      "are",
    "into",       "as",        "by",      "from",     "we",       "i",      "want",   "should",   "would",
    "could",      "can",       "get",     "make it",  "making",   "made",   "one",    "shots",    "photos",
    "pictures",   "images",    "colored", "coloured", "palette",  "light",  "city",   "portrait", "portraits",
    "street",     "landscape", "texture",
};
static const char *const k_stop_zh[] = {
    "的",   "风",   "风格", "感",   "感觉", "色调",   "调",   "色",     "效果", "氛围",   "一种", "一张", "照片",
    "图片", "画面", "给",   "让",   "请",   "把",     "要",   "我",     "想",   "带",     "有",   "了",   "吧",
    "呢",   "啊",   "一下", "调色", "滤镜", "色彩",   "颜色", "味",     "系",   "的感觉", "那种", "这种", "样子",
    "风的", "调子", "一样", "像",   "般",   "图",     "拍",   "照",     "里",   "中",     "下",   "上",   "是",
    "得",   "地",   "着",   "被",   "它",   "这张",   "这个", "那个",   "成",   "变",     "变成", "弄",   "做",
    "度",   "搞",   "来",   "去",   "个",   "些许的", "色系", "质感的", "光线", "光影",   "画风", "影调", "场景",
    "质感", "人像", "人",   "城市", "街道", "街头",   "风景",
};
/* Clause separators: modifiers do not cross them. */
static const char *const k_sep_en[] = {"and", "but", "yet", "while", "though", "although", "plus also", "then", "or"};
static const char *const k_sep_zh[] = {"和", "与", "但", "但是", "而且", "并且", "又",
                                       "还", "而", "及", "同时", "或",   "也"};

int dlut_looks_term_count(void) {
  return (int)(sizeof k_terms / sizeof k_terms[0]);
}
const dlut_looks_term *dlut_looks_term_get(int i) {
  return i >= 0 && i < dlut_looks_term_count() ? &k_terms[i] : NULL;
}
int dlut_looks_modifier_count(void) {
  return (int)(sizeof k_modifiers / sizeof k_modifiers[0]);
}
const dlut_looks_modifier *dlut_looks_modifier_get(int i) {
  return i >= 0 && i < dlut_looks_modifier_count() ? &k_modifiers[i] : NULL;
}

/* Accessors for parse.c. */
int looks_stop_count(int zh) {
  return zh ? (int)(sizeof k_stop_zh / sizeof *k_stop_zh) : (int)(sizeof k_stop_en / sizeof *k_stop_en);
}
const char *looks_stop_get(int zh, int i) {
  return zh ? k_stop_zh[i] : k_stop_en[i];
}
int looks_sep_count(int zh) {
  return zh ? (int)(sizeof k_sep_zh / sizeof *k_sep_zh) : (int)(sizeof k_sep_en / sizeof *k_sep_en);
}
const char *looks_sep_get(int zh, int i) {
  return zh ? k_sep_zh[i] : k_sep_en[i];
}
